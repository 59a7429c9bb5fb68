-- Put an open review in the queue's index (idempotent: a txn_id there is left as it is).
-- KEYS: 1 queue (by priority), 2 ages (by opened ms), 3 summaries
-- ARGV: 1 txn_id, 2 priority, 3 opened at (epoch ms), 4 summary (JSON)
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[4])
return 1

-- Take reviews out of the queue's index (closed, or found closed by a reader).
-- KEYS: 1 queue, 2 ages, 3 summaries
-- ARGV: the txn_ids
for _, txn_id in ipairs(ARGV) do
  redis.call('ZREM', KEYS[1], txn_id)
  redis.call('ZREM', KEYS[2], txn_id)
  redis.call('HDEL', KEYS[3], txn_id)
end
return #ARGV

-- Claim a training example's txn_id for one stream entry: a label is learned once.
-- KEYS: 1 the txn_id's learned mark   ARGV: 1 stream entry id, 2 mark TTL (ms)
-- Returns 1 when the entry owns the txn_id (claimed now, or by this same entry before: a
-- replay after a crash may learn it again), 0 when another entry claimed it first.
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then return 1 end
return 0

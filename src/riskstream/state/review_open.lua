-- Open a review for a payment decided `review`, once per txn_id: an item that exists (open
-- or closed) is left as it is, so a redelivered or re-sent payment never reopens one.
-- KEYS: 1 the review item
-- ARGV: 1 user_id, 2 the item's body (JSON: payment, decision, features), 3 priority,
--       4 opened at (epoch ms), 5 TTL (ms)
-- Returns 1 when the item is open (now or before: index it), 0 when it was closed.
local status = redis.call('HGET', KEYS[1], 'status')
if status then
  if status == 'open' then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'open', 'user', ARGV[1], 'body', ARGV[2],
  'priority', ARGV[3], 'opened', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1

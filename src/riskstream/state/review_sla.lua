-- Apply the SLA policy to a review open past its SLA, unless an analyst holds it now.
-- KEYS: 1 the review item, 2 its lease
-- ARGV: 1 policy: approve, decline or escalate; 2 now (epoch ms)
-- Returns 'resolved' (closed by the policy), 'escalated' (flagged now, stays open),
-- 'already' (escalated before), 'held' (an analyst works it: left alone), 'gone' (closed or expired: drop it from the index).
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'open' then return 'gone' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'held' end
if ARGV[1] == 'escalate' then
  if redis.call('HEXISTS', KEYS[1], 'escalated') == 1 then return 'already' end
  redis.call('HSET', KEYS[1], 'escalated', ARGV[2])
  return 'escalated'
end
redis.call('HSET', KEYS[1], 'status', 'closed', 'resolution', 'sla_' .. ARGV[1],
  'closed', ARGV[2])
return 'resolved'

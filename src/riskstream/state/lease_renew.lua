-- Renew the single learner's lease if this owner holds it.
-- KEYS: 1 the lease   ARGV: 1 owner, 2 TTL (ms)
-- Returns 1 when renewed, 0 when another owner holds it (or nobody does).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0

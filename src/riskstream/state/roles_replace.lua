-- Replace the model roles record if it is still the one read (compare and set).
-- KEYS: 1 the roles record   ARGV: 1 the record as read ('' when there was none), 2 the new one
-- Returns 1 when replaced, 0 when another writer changed it first (read it again and retry).
local now = redis.call('GET', KEYS[1])
if (now or '') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1

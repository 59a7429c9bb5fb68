-- Move users' next due times in one partition's index, each only if it is still the time
-- that was read (a user whose time someone lowered meanwhile keeps the lower one).
-- KEYS: 1 the partition's due index (sorted set: user -> when its line next may move)
-- ARGV: triples: user, the time read (epoch ms), the new time ('' to take the user out)
-- Returns how many users were moved.
local moved = 0
for i = 1, #ARGV, 3 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    if ARGV[i + 2] == '' then
      redis.call('ZREM', KEYS[1], ARGV[i])
    else
      redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
    end
    moved = moved + 1
  end
end
return moved

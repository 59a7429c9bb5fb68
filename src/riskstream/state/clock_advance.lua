-- Raise one input topic's clock on one partition, by at most a bounded step, and stamp the
-- partition as written now (wall clock): a partition not written for a while is idle.
-- KEYS: 1 the partition's clock (sorted set: topic -> newest event time, epoch ms)
--       2 when the partition's clock was last written (string: wall-clock epoch ms)
-- ARGV: 1 the topic, 2 the newest event time handled, 3 the largest step (ms) past the
--       partition's clock (none on its first write), 4 the wall clock now (epoch ms)
-- Returns the event time written (the step may have cut it).
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ts = tonumber(ARGV[2])
if top[2] then
  local bound = tonumber(top[2]) + tonumber(ARGV[3])
  if ts > bound then ts = bound end
end
redis.call('ZADD', KEYS[1], 'GT', ts, ARGV[1])
redis.call('SET', KEYS[2], ARGV[4])
return ts

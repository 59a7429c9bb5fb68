-- Replace an unsigned checkpoint with its signed form, only if it is still the one read
-- (a learner may have saved a newer checkpoint meanwhile: then nothing changes).
-- KEYS: 1 the model blob, 2 the model meta hash
-- ARGV: 1 the blob as read, 2 its signed form, 3 the quality state as read ('' if none),
--       4 its signed form
-- Returns 1 when signed, 0 when the checkpoint changed since it was read.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], 'quality_state') == ARGV[3] then
  redis.call('HSET', KEYS[2], 'quality_state', ARGV[4])
end
return 1

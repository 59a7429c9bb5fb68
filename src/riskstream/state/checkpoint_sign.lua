-- Replace a checkpoint written before everything was signed with its signed form, only if
-- it is still the one read (a learner may have saved a newer checkpoint meanwhile).
-- KEYS: 1 the model blob, 2 the model meta hash, 3 the roles record
-- ARGV: 1 the blob as read, 2 its signed form, 3 the roles as read ('' if none), 4 their
--       signed form ('' if none), 5.. meta field, signed value, field, signed value, ...
-- Returns 1 when signed, 0 when the checkpoint or the roles changed since they were read.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4])
end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1

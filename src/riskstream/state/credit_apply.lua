-- Write a user's credit line after a batch of events, once per event, if nobody else did.
-- KEYS: 1 line, 2 newest message, 3.. one mark per event applied (all one user's slot)
-- ARGV: 1 the line as read ('' when none), 2 the new line, 3 the newest message ('' when
--       no change was published), 4 mark TTL (ms), 5 line TTL (ms; 0: the line is account
--       data and never expires), 6.. one mark value per KEYS[3..]
-- Returns 1 when written; 0 when the line changed since it was read, or an event was
-- marked meanwhile: nothing is written, the caller reads again and redoes the batch.
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
  else
    redis.call('PEXPIRE', KEYS[2], ARGV[5])
  end
else
  redis.call('SET', KEYS[1], ARGV[2])
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[2], ARGV[3])
  else
    redis.call('PERSIST', KEYS[2])
  end
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 3], 'PX', ARGV[4])
end
return 1

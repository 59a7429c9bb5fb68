-- Put a version of the rules in force if it is newer than the one there, and at most
-- ARGV[3] above it (scoring.ruleset.MAX_VERSION_STEP: no version locks out the later ones).
-- KEYS: 1 the rules hash (fields version, body)
-- ARGV: 1 version, 2 body (the message), 3 the largest step above the version in force
-- Returns {1, version} when put in force, {0, version in force} when that one is newer or
-- the same version with another body, {2, version} when this very body is in force already
-- (a message read again after a crash), {3, version in force} when this one is too far above.
local current = redis.call('HGET', KEYS[1], 'version')
if current then
  local body = redis.call('HGET', KEYS[1], 'body')
  if current == ARGV[1] and body == ARGV[2] then
    return {2, current}
  end
  if tonumber(current) >= tonumber(ARGV[1]) then
    return {0, current}
  end
end
if tonumber(ARGV[1]) > tonumber(current or '0') + tonumber(ARGV[3]) then
  return {3, current or '0'}
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'body', ARGV[2])
return {1, ARGV[1]}

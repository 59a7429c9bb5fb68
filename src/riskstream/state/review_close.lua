-- Close an open review with an analyst's label, unless another analyst holds or closed it.
-- An item closed by this analyst with this label whose label is not yet published (the
-- publication failed) is handed back to be published again.
-- KEYS: 1 the review item, 2 its lease
-- ARGV: 1 analyst, 2 label, 3 note, 4 now (epoch ms)
-- Returns {outcome, who, user_id}: outcome 'closed' (closed now: publish), 'republish',
-- 'held' (who holds it), 'done' (who closed it, or 'sla'), 'unknown' (no such review).
local item = redis.call('HMGET', KEYS[1], 'status', 'analyst', 'label', 'published', 'user')
if not item[1] then return {'unknown', '', ''} end
if item[1] ~= 'open' then
  if item[2] == ARGV[1] and item[3] == ARGV[2] and item[4] == '0' then
    return {'republish', ARGV[1], item[5]}
  end
  return {'done', item[2] or 'sla', item[5]}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'held', holder, item[5]} end
redis.call('HSET', KEYS[1], 'status', 'closed', 'analyst', ARGV[1], 'label', ARGV[2],
  'note', ARGV[3], 'closed', ARGV[4], 'published', '0')
redis.call('DEL', KEYS[2])
return {'closed', ARGV[1], item[5]}

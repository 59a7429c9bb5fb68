-- Claim an open review for an analyst: a lease (SET PX) whose token is the analyst's id, so
-- the same analyst may claim again (renewing it) and nobody else may until it expires.
-- KEYS: 1 the review item, 2 its lease
-- ARGV: 1 analyst, 2 lease (ms)
-- Returns {outcome, who, body}: outcome 'claimed' (who: the analyst), 'held' (who holds it),
-- 'closed' (who closed it, or 'sla'), 'unknown' (no such review).
local item = redis.call('HMGET', KEYS[1], 'status', 'analyst', 'body')
if not item[1] then return {'unknown', '', ''} end
if item[1] ~= 'open' then return {'closed', item[2] or 'sla', ''} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'held', holder, ''} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {'claimed', ARGV[1], item[3]}

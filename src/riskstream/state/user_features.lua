-- Apply one payment to its user's rolling features: atomically, and once per txn_id.
-- Semantics of every feature and key: docs/features.md; Python twin: tests/reference_features.py.
-- KEYS: 1 txn record (string), 2 window zset, 3 stats hash, 4 first-seen zset
-- ARGV: 1 limits (struct '<dddddd', packed once by FeatureStore: snapshot ttl ms, window
--       kept ms (7 d + lateness), max window entries, first-seen retention ms, max first-seen
--       members, user ttl ms), 2 txn_id, 3 ts (epoch ms), 4 amount (Python repr: exact),
--       5 merchant_id, 6 device_id, 7 country, 8 ip ('' = absent), 9 snapshot head
-- The txn record: struct '<Hc0Bc0Bc0' (snapshot, merchant_id, label claim) .. decision.
-- Returns {1 if applied before else 0, snapshot, stored decision or false}.
-- Hostile event times (docs/features.md): every trim is anchored at the payment's
-- predecessor in event time (the newest kept payment at or before its ts), never at the
-- newest ts, so a payment far in the future or past evicts nothing and freezes nothing.
local record = redis.call('GET', KEYS[1])
if record then
  local snapshot, _, _, rest = struct.unpack('<Hc0Bc0Bc0', record)
  local decision = string.sub(record, rest)
  if decision == '' then decision = false end
  return {1, snapshot, decision}
end

local DAY = 86400000
local AMOUNT_FLOOR = 0.01 -- amt_ratio divides by at least this: finite for any amount
local snapshot_ttl, kept, max_kept, retention, max_seen, user_ttl =
  struct.unpack('<dddddd', ARGV[1])
local lateness = kept - 7 * DAY
local txn_id, ts, amount_s = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local amount = tonumber(amount_s)
local merchant, device, country, ip = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local win, st, seen = KEYS[2], KEYS[3], KEYS[4]

-- history and amount statistics over the user's previous payments (arrival order)
local s = redis.call('HMGET', st, 'n', 'mean', 'm2', 'first', 'last', 'restart')
local n = tonumber(s[1]) or 0
local mean = tonumber(s[2]) or 0
local m2 = tonumber(s[3]) or 0
local first = tonumber(s[4])
local last = tonumber(s[5])
local restart = tonumber(s[6])

-- the predecessor: the newest kept payment at or before ts (nil if none)
local row = redis.call('ZREVRANGEBYSCORE', win, ts, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
local prev = tonumber(row[2])

-- recency: the newest payment, if this one is not earlier; else the predecessor
local since_prev = -1
if last and ts >= last then
  since_prev = (ts - last) / 1000
elseif prev then
  since_prev = (ts - prev) / 1000
end

local amt_mean, amt_std, amt_z, amt_ratio = mean, 0, 0, 1
if n >= 2 then amt_std = math.sqrt(m2 / (n - 1)) end
if n >= 2 and amt_std > 0 then
  amt_z = math.max(-10, math.min(10, (amount - mean) / amt_std))
end
if n >= 1 then amt_ratio = amount / math.max(mean, AMOUNT_FLOOR) end
n = n + 1
local delta = amount - mean
mean = mean + delta / n
m2 = m2 + delta * (amount - mean)
-- the account's start (account_age_s counts from it): an earlier ts lowers it only within
-- kept (the window's horizon) of it. A payment more than the stats' TTL after the newest
-- is a tentative restart (as if the keys had expired): its own age is 0, and a later
-- payment at or after it (or within kept before it) confirms it; one far in the future
-- that no payment follows changes nothing.
local age_from
if not first or not last then
  first = ts
  age_from = first
elseif ts - last > user_ttl then
  restart = ts
  age_from = ts
elseif restart and ts > restart - kept then
  first = math.min(restart, ts)
  restart = nil
  age_from = first
else
  if ts < first and ts > first - kept then first = ts end
  age_from = first
end
local newest = ts
if last and last > ts then newest = last end
local stats = {'HSET', st, 'n', n, 'mean', mean, 'm2', m2, 'first', first, 'last', newest}
if restart then
  stats[#stats + 1] = 'restart'
  stats[#stats + 1] = restart
end
redis.call(unpack(stats))
if s[6] and not restart then redis.call('HDEL', st, 'restart') end

-- exact sliding windows (ts - w, ts] over the kept payments, this one included
redis.call('ZADD', win, ts, txn_id .. '|' .. amount_s .. '|' .. merchant .. '|' .. country
  .. '|' .. device)
local rows = redis.call('ZRANGEBYSCORE', win, '(' .. (ts - 7 * DAY), ts, 'WITHSCORES')
local spans = {300000, 3600000, DAY, 7 * DAY}
local cnt, sum = {0, 0, 0, 0}, {0, 0, 0, 0}
local distinct = {}
local n_merchants, n_devices, n_countries = 0, 0, 0
for i = 1, #rows, 2 do
  local age = ts - tonumber(rows[i + 1])
  if age < DAY then
    local _, a, m, c, d = string.match(rows[i], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
    local amt = tonumber(a)
    for k = 1, 4 do
      if age < spans[k] then cnt[k] = cnt[k] + 1; sum[k] = sum[k] + amt end
    end
    m, c, d = 'm' .. m, 'c' .. c, 'd' .. d
    if m ~= 'm' and not distinct[m] then distinct[m] = true; n_merchants = n_merchants + 1 end
    if c ~= 'c' and not distinct[c] then distinct[c] = true; n_countries = n_countries + 1 end
    if d ~= 'd' and not distinct[d] then distinct[d] = true; n_devices = n_devices + 1 end
  else
    cnt[4] = cnt[4] + 1
    sum[4] = sum[4] + tonumber(string.match(rows[i], '^[^|]*|([^|]*)|'))
  end
end
if prev then redis.call('ZREMRANGEBYSCORE', win, '-inf', prev - kept) end
redis.call('ZREMRANGEBYRANK', win, 0, -max_kept - 1)

-- first seen: new = not used by this user within the retention before ts (arrival order:
-- a use at a later ts counts). One sorted set for the four kinds, members prefixed
-- m: d: c: i:, scored by last-seen ts (only ever raised)
local values = {{'m:', merchant}, {'d:', device}, {'c:', country}, {'i:', ip}}
local new = {0, 0, 0, 0}
local members, slots, zadd = {}, {}, {'ZADD', seen, 'GT'}
for k = 1, 4 do
  if values[k][2] ~= '' then
    members[#members + 1] = values[k][1] .. values[k][2]
    slots[#members] = k
    zadd[#zadd + 1] = ts
    zadd[#zadd + 1] = members[#members]
  end
end
if #members > 0 then
  local scores = redis.call('ZMSCORE', seen, unpack(members))
  for j = 1, #members do
    if not scores[j] or tonumber(scores[j]) <= ts - retention then new[slots[j]] = 1 end
  end
  redis.call(unpack(zadd))
end
if prev then redis.call('ZREMRANGEBYSCORE', seen, '-inf', prev - retention - lateness) end
redis.call('ZREMRANGEBYRANK', seen, 0, -max_seen - 1)

-- the snapshot: head .. user part, whose layout is features.py's _USER struct
local snapshot = ARGV[9] .. struct.pack('<I4I4I4I4I4I4I4I4BBBBdddddddddd',
  cnt[1], cnt[2], cnt[3], cnt[4], n_merchants, n_devices, n_countries, n,
  new[1], new[2], new[3], new[4],
  sum[1], sum[2], sum[3], sum[4], amt_mean, amt_std, amt_z, amt_ratio,
  since_prev, math.max(0, ts - age_from) / 1000)
redis.call('SET', KEYS[1], struct.pack('<Hc0Bc0Bc0', #snapshot, snapshot, #merchant, merchant,
  0, ''), 'PX', snapshot_ttl)
redis.call('PEXPIRE', win, kept)
redis.call('PEXPIRE', st, user_ttl)
redis.call('PEXPIRE', seen, user_ttl)
return {0, snapshot, false}

-- Apply one payment to one user's rolling features, atomically and once per txn_id.
-- KEYS: 1 txn hash, 2 payments zset, 3 stats hash, 4 merchants zset, 5 devices zset,
--       6 countries zset, 7 ips zset
-- ARGV: 1 ts, 2 amount, 3 merchant, 4 device, 5 country, 6 ip (empty = absent),
--       7 base features (JSON), 8 snapshot ttl ms, 9 user ttl ms, 10 retention ms,
--       11 max payments kept, 12 txn_id
-- Returns {0|1 duplicate, features JSON, stored decision or false}.
local txn = KEYS[1]
local stored = redis.call('HMGET', txn, 'x', 'd')
if stored[1] then
  return {1, stored[1], stored[2]}
end
local ts = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local x = cjson.decode(ARGV[7])
local day, week = 86400000, 604800000

-- recency: the newest payment at or before this one in event time
local prev = redis.call('ZREVRANGEBYSCORE', KEYS[2], ts, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
x.secs_since_prev = prev[2] and (ts - tonumber(prev[2])) / 1000 or -1

-- amount statistics over previous payments (Welford), then update with this one
local s = redis.call('HMGET', KEYS[3], 'n', 'mean', 'm2', 'first_ts')
local n, mean, m2 = tonumber(s[1]) or 0, tonumber(s[2]) or 0, tonumber(s[3]) or 0
local std = n >= 2 and math.sqrt(m2 / (n - 1)) or 0
x.amt_mean, x.amt_std = mean, std
if n >= 2 and std > 0 then
  x.amt_z = math.max(-10, math.min(10, (amount - mean) / std))
else
  x.amt_z = 0
end
x.amt_ratio = n >= 1 and mean > 0 and amount / mean or 1
local n1 = n + 1
local delta = amount - mean
mean = mean + delta / n1
m2 = m2 + delta * (amount - mean)
local first_ts = tonumber(s[4]) or ts
if ts < first_ts then first_ts = ts end
redis.call('HSET', KEYS[3], 'n', n1, 'mean', mean, 'm2', m2, 'first_ts', first_ts)
x.n_payments = n1
x.account_age_s = (ts - first_ts) / 1000

-- sliding windows, exact: every payment of the last 7 days (this one included)
redis.call('ZADD', KEYS[2], ts, ARGV[12] .. '|' .. ARGV[2])
local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (ts - week), ts, 'WITHSCORES')
local spans = {{'5m', 300000}, {'1h', 3600000}, {'24h', day}, {'7d', week}}
for _, span in ipairs(spans) do
  x['cnt_' .. span[1]], x['sum_' .. span[1]] = 0, 0
end
for i = 1, #rows, 2 do
  local age = ts - tonumber(rows[i + 1])
  local amt = tonumber(string.match(rows[i], '|([^|]*)$'))
  for _, span in ipairs(spans) do
    if age < span[2] then
      x['cnt_' .. span[1]] = x['cnt_' .. span[1]] + 1
      x['sum_' .. span[1]] = x['sum_' .. span[1]] + amt
    end
  end
end
-- trim: older than 7 days before the newest payment, and at most ARGV[11] kept
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(newest[2]) - week)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[11]) - 1)

-- first seen and distinct-in-24h: member -> last seen time
local retention = tonumber(ARGV[10])
local function seen(key, member, new_name, distinct_name)
  if member == '' then
    x[new_name] = 0
  else
    x[new_name] = redis.call('ZSCORE', key, member) and 0 or 1
    redis.call('ZADD', key, 'GT', ts, member)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ts - retention)
  end
  if distinct_name then
    x[distinct_name] = redis.call('ZCOUNT', key, '(' .. (ts - day), '+inf')
  end
end
seen(KEYS[4], ARGV[3], 'is_new_merchant', 'n_merchants_24h')
seen(KEYS[5], ARGV[4], 'is_new_device', 'n_devices_24h')
seen(KEYS[6], ARGV[5], 'is_new_country', 'n_countries_24h')
seen(KEYS[7], ARGV[6], 'is_new_ip', nil)

local snapshot = cjson.encode(x)
redis.call('HSET', txn, 'x', snapshot)
redis.call('PEXPIRE', txn, ARGV[8])
for i = 2, 7 do redis.call('PEXPIRE', KEYS[i], ARGV[9]) end
return {0, snapshot, false}

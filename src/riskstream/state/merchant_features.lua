-- Apply one payment to its merchant's aggregates: atomically, and once per txn_id.
-- KEYS: 1 txn marker (string), 2 window zset (txn_id by ts), 3 users zset (user_id by last ts)
-- ARGV: 1 limits (struct '<ddddd', packed once by FeatureStore: marker ttl ms (= kept),
--       kept ms (24 h + lateness), max window entries, max users kept, shards), 2 txn_id,
--       3 ts (epoch ms), 4 user_id
-- Returns the packed {m_cnt_1h, m_cnt_24h, m_users_24h} (features.py's _MERCHANT struct),
-- the stored one when this txn_id was applied before. With the merchant split in S shards
-- (by user, docs/features.md), the keys are one shard's and the counts S times its own.
-- Hostile event times (docs/features.md): trims are anchored at the payment's predecessor
-- (the merchant's newest kept payment at or before its ts), and users are counted up to
-- ts + lateness only, so no payment far in the future or past freezes the merchant.
local done = redis.call('GET', KEYS[1])
if done then return done end

local DAY = 86400000
local marker_ttl, kept, max_kept, max_users, shards = struct.unpack('<ddddd', ARGV[1])
local lateness = kept - DAY
local ts, user = tonumber(ARGV[3]), ARGV[4]
local win, users = KEYS[2], KEYS[3]
local row = redis.call('ZREVRANGEBYSCORE', win, ts, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
local prev = tonumber(row[2])
redis.call('ZADD', win, ts, ARGV[2])
-- the user's last payment here: raised, or replaced when beyond ts + lateness (an outlier's
-- time, outside every window counted here; this payment is the better evidence)
local last = tonumber(redis.call('ZSCORE', users, user))
if not last or last < ts or last > ts + lateness then redis.call('ZADD', users, ts, user) end
local packed = struct.pack('<I4I4I4',
  shards * redis.call('ZCOUNT', win, '(' .. (ts - 3600000), ts),
  shards * redis.call('ZCOUNT', win, '(' .. (ts - DAY), ts),
  shards * redis.call('ZCOUNT', users, '(' .. (ts - DAY), ts + lateness))

if prev then
  redis.call('ZREMRANGEBYSCORE', win, '-inf', prev - kept)
  redis.call('ZREMRANGEBYSCORE', users, '-inf', prev - kept)
end
redis.call('ZREMRANGEBYRANK', win, 0, -max_kept - 1)
redis.call('ZREMRANGEBYRANK', users, 0, -max_users - 1)
redis.call('SET', KEYS[1], packed, 'PX', marker_ttl)
redis.call('PEXPIRE', win, kept)
redis.call('PEXPIRE', users, kept)
return packed

-- Apply one payment to its merchant's aggregates, once per txn_id.
-- KEYS: 1 txn marker, 2 payments zset (txn -> ts), 3 users zset (user -> last ts)
-- ARGV: 1 ts, 2 txn_id, 3 user_id, 4 marker ttl ms, 5 max payments kept
-- Returns {m_cnt_1h, m_cnt_24h, m_users_24h}.
local done = redis.call('GET', KEYS[1])
if done then return cjson.decode(done) end
local ts = tonumber(ARGV[1])
local day = 86400000
redis.call('ZADD', KEYS[2], ts, ARGV[2])
redis.call('ZADD', KEYS[3], 'GT', ts, ARGV[3])
local result = {
  redis.call('ZCOUNT', KEYS[2], '(' .. (ts - 3600000), ts),
  redis.call('ZCOUNT', KEYS[2], '(' .. (ts - day), ts),
  redis.call('ZCOUNT', KEYS[3], '(' .. (ts - day), '+inf'),
}
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(newest[2]) - day)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(newest[2]) - day)
redis.call('SET', KEYS[1], cjson.encode(result), 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[2], 2 * day)
redis.call('PEXPIRE', KEYS[3], 2 * day)
return result

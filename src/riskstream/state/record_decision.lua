-- Store the decision made for a payment, once: the first decision recorded wins.
-- KEYS: 1 txn record (written by user_features.lua)
-- ARGV: 1 decision bytes (not empty), 2 the payment's merchant features (the merchant
--       step's packed reply: the record keeps them for the label, so the merchant's own
--       marker need only live as long as its window)
-- The record: struct '<Hc0Bc0Bc0' (snapshot, merchant_id, merchant part) .. decision.
-- Returns 1 when stored now, 0 when a decision was there, -1 when the payment is unknown
-- (never applied, or expired): no key is created, so nothing lives without a TTL.
local record = redis.call('GET', KEYS[1])
if not record then return -1 end
local snapshot, merchant, _, rest = struct.unpack('<Hc0Bc0Bc0', record)
if rest <= #record then return 0 end
redis.call('SET', KEYS[1], struct.pack('<Hc0Bc0Bc0', #snapshot, snapshot, #merchant, merchant,
  #ARGV[2], ARGV[2]) .. ARGV[1], 'KEEPTTL')
return 1

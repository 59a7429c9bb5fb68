-- Claim a payment's snapshot for learning from its label: a label teaches the model once.
-- KEYS: 1 txn record   ARGV: 1 claim (1-255 bytes: who learns, e.g. the label's offset)
-- The record: struct '<Hc0Bc0Bc0' (snapshot, merchant_id, label claim) .. decision.
-- Returns {snapshot, merchant_id} when unclaimed or claimed by this same claim (a replay
-- after a crash may learn again), false when unknown, expired or claimed by another.
local record = redis.call('GET', KEYS[1])
if not record then return false end
local snapshot, merchant, claim, rest = struct.unpack('<Hc0Bc0Bc0', record)
if claim == '' then
  redis.call('SET', KEYS[1], struct.pack('<Hc0Bc0Bc0', #snapshot, snapshot, #merchant, merchant,
    #ARGV[1], ARGV[1]) .. string.sub(record, rest), 'KEEPTTL')
elseif claim ~= ARGV[1] then
  return false
end
return {snapshot, merchant}

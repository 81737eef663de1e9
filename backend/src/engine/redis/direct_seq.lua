-- A direct message's place in its conversation, atomically with the sender's idempotency
-- record (the conversation's slot; the users' logs are appended to by append_direct.lua, on
-- their own slots, after this).
-- KEYS[1] the conversation's meta hash (seq)   KEYS[2] this (sender, client_id)'s record
-- ARGV[1] the idempotency window, ms   ARGV[2] the message's JSON members after id and seq
-- ARGV[3] the lowest seq to count from: ids of the older one-slot layout were every
-- conversation's order, so a conversation's seqs start above the last of them
-- Returns {1, seq, members} when new, {0, seq, members} for a repeat: members is the JSON
-- members after id, its seq first.
local original = redis.call('GET', KEYS[2])
if original then
  return {0, string.match(original, '^"seq":(%d+),'), original}
end
redis.call('HSETNX', KEYS[1], 'seq', ARGV[3])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local members = '"seq":' .. seq .. ',' .. ARGV[2]
redis.call('SET', KEYS[2], members, 'PX', ARGV[1])
return {1, tostring(seq), members}

-- One room log entry, atomically: idempotency check, the check of the message it refers to,
-- next seq, append to the log, doorbell.
-- KEYS[1] the room's meta hash (seq, epoch)   KEYS[2] its log (a stream; entry ID = seq-0)
-- KEYS[3] this (sender, client_id)'s idempotency key
-- KEYS[4] the room's authors hash (message id -> sender key; a deleted message has none)
-- KEYS[5] the room's changes hash (message id -> its change entries, one JSON per line)
-- KEYS[6] the room's images hash (message id -> the id of its image; see index_images.lua)
-- ARGV[1] an epoch, used if the log has none yet   ARGV[2] the idempotency window, ms
-- ARGV[3] the room's Pub/Sub channel   ARGV[4] the entry's JSON members after id and seq
-- ARGV[5] entries kept in the log (0: all)   ARGV[6] the sender's key
-- ARGV[7] 'message', 'change' or 'delete' (a change that deletes)
-- ARGV[8] the id of the message referred to (a change's target, a reply's original; '' none)
-- ARGV[9] '1' when only that message's author may refer to it
-- ARGV[10] the id of the message's image ('' none)
-- The stream field is 'm' for a message, 'c' for a change (pages skip changes).
-- The doorbell is "EPOCH ENTRY-JSON": a node notices a log that was replaced under it.
-- Returns {1, entry JSON, epoch} when stored now, {0, original JSON} for a repeat,
-- {-1} when the message referred to is not there (or deleted), {-2} when it is not the
-- sender's.
local original = redis.call('GET', KEYS[3])
if original then
  return {0, original}
end
local target = ARGV[8]
if target ~= '' then
  local author = redis.call('HGET', KEYS[4], target)
  if not author then
    return {-1}
  end
  if ARGV[9] == '1' and author ~= ARGV[6] then
    return {-2}
  end
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = '{"id":' .. seq .. ',"seq":' .. seq .. ',' .. ARGV[4] .. '}'
local field = 'm'
if ARGV[7] ~= 'message' then
  field = 'c'
end
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '=', keep, seq .. '-0', field, entry)
  -- What fell out of the log leaves the side hashes too (ids are seqs here).
  if seq > keep then
    redis.call('HDEL', KEYS[4], seq - keep)
    redis.call('HDEL', KEYS[5], seq - keep)
    redis.call('HDEL', KEYS[6], seq - keep)
  end
else
  redis.call('XADD', KEYS[2], seq .. '-0', field, entry)
end
if ARGV[7] == 'message' then
  redis.call('HSET', KEYS[4], seq, ARGV[6])
  if ARGV[10] ~= '' then
    redis.call('HSET', KEYS[6], seq, ARGV[10])
  end
else
  local before = redis.call('HGET', KEYS[5], target)
  if before then
    redis.call('HSET', KEYS[5], target, before .. '\n' .. entry)
  else
    redis.call('HSET', KEYS[5], target, entry)
  end
  if ARGV[7] == 'delete' then
    redis.call('HDEL', KEYS[4], target)
  end
end
redis.call('PUBLISH', ARGV[3], epoch .. ' ' .. entry)
redis.call('SET', KEYS[3], entry, 'PX', ARGV[2])
return {1, entry, epoch}

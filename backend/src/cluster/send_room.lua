-- One room message, atomically: idempotency check, next seq, append to the log, doorbell.
-- KEYS[1] the room's meta hash (seq, epoch)   KEYS[2] its log (a stream; entry ID = seq-0)
-- KEYS[3] this (sender, client_id)'s idempotency key
-- ARGV[1] an epoch, used if the log has none yet   ARGV[2] the idempotency window, ms
-- ARGV[3] the room's Pub/Sub channel   ARGV[4] the message's JSON members after id and seq
-- ARGV[5] messages kept in the log (0: all)
-- The doorbell is "EPOCH MESSAGE-JSON": a node notices a log that was replaced under it.
-- Returns {1, message JSON, epoch} when stored now, {0, original JSON} for a repeat.
local original = redis.call('GET', KEYS[3])
if original then
  return {0, original}
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local message = '{"id":' .. seq .. ',"seq":' .. seq .. ',' .. ARGV[4] .. '}'
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '=', keep, seq .. '-0', 'm', message)
else
  redis.call('XADD', KEYS[2], seq .. '-0', 'm', message)
end
redis.call('PUBLISH', ARGV[3], epoch .. ' ' .. message)
redis.call('SET', KEYS[3], message, 'PX', ARGV[2])
return {1, message, epoch}

-- One direct message, atomically: idempotency check, next id, append to both users' logs,
-- doorbell on both users' channels.
-- KEYS[1] the direct messages' meta hash (id, epoch)   KEYS[2] the sender's log
-- KEYS[3] the recipient's log (the same key when writing to oneself)
-- KEYS[4] this (sender, client_id)'s idempotency key
-- ARGV[1] an epoch, used if there is none yet   ARGV[2] the idempotency window, ms
-- ARGV[3] the sender's channel   ARGV[4] the recipient's channel
-- ARGV[5] the message's JSON members after id
-- ARGV[6] 'SPUBLISH' on a Redis Cluster (the users' channels are on this slot), 'PUBLISH' on
-- one Redis, '' not here (the node rings once replicas have it: --redis-wait-replicas)
-- The doorbell is "EPOCH MESSAGE-JSON", as for rooms.
-- Returns {1, message JSON, epoch} when stored now, {0, original JSON} for a repeat.
local original = redis.call('GET', KEYS[4])
if original then
  return {0, original}
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local id = redis.call('HINCRBY', KEYS[1], 'id', 1)
-- (One counter for every conversation: the id is the conversation's order too, its seq.)
local message = '{"id":' .. id .. ',"seq":' .. id .. ',' .. ARGV[5] .. '}'
redis.call('XADD', KEYS[2], id .. '-0', 'm', message)
if KEYS[3] ~= KEYS[2] then
  redis.call('XADD', KEYS[3], id .. '-0', 'm', message)
end
local doorbell = epoch .. ' ' .. message
if ARGV[6] ~= '' then
  redis.call(ARGV[6], ARGV[3], doorbell)
  if ARGV[4] ~= ARGV[3] then
    redis.call(ARGV[6], ARGV[4], doorbell)
  end
end
redis.call('SET', KEYS[4], message, 'PX', ARGV[2])
return {1, message, epoch}

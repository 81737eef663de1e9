-- A copy of a direct message in one user's log (the user's slot), at most once per message:
-- the next id of the user's log, the log's epoch, and the doorbell on the user's channel.
-- KEYS[1] the user's meta hash (id, epoch)   KEYS[2] the user's log
-- KEYS[3] this message's record in this log (conversation, sender and client_id)
-- ARGV[1] an epoch, used if there is none yet   ARGV[2] the idempotency window, ms
-- ARGV[3] the user's channel   ARGV[4] the message's JSON members after id (its seq first)
-- ARGV[5] 'SPUBLISH' on a Redis Cluster (the channel is on this slot), 'PUBLISH' on one
-- Redis, '' not here (the node rings once replicas have it: --redis-wait-replicas)
-- The doorbell is "EPOCH MESSAGE-JSON", as for rooms.
-- Returns {copy JSON, epoch}, the same for a repeat.
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local copy = redis.call('GET', KEYS[3])
if copy then
  return {copy, epoch}
end
local id = redis.call('HINCRBY', KEYS[1], 'id', 1)
copy = '{"id":' .. id .. ',' .. ARGV[4] .. '}'
redis.call('XADD', KEYS[2], id .. '-0', 'm', copy)
if ARGV[5] ~= '' then
  redis.call(ARGV[5], ARGV[3], epoch .. ' ' .. copy)
end
redis.call('SET', KEYS[3], copy, 'PX', ARGV[2])
return {copy, epoch}

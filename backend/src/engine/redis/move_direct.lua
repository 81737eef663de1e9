-- Copies a page of one user's direct messages from the older one-slot layout into the
-- user's own log, keeping ids (what catch-ups name), skipping those already there, and
-- carries the log's counter and epoch on (safe to run again, or on two nodes at once).
-- KEYS[1] the user's log   KEYS[2] the user's meta hash (id, epoch)
-- ARGV[1] the older layout's epoch   ARGV[2], ARGV[3], ...: id, message JSON, oldest first
-- Returns how many were copied.
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[1])
-- What the log holds, or held (retention may have trimmed what was copied): its counter.
local last = tonumber(redis.call('HGET', KEYS[2], 'id') or '0')
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #newest > 0 then
  last = math.max(last, tonumber(string.match(newest[1][1], '^(%d+)')))
end
local copied = 0
for i = 2, #ARGV - 1, 2 do
  local id = tonumber(ARGV[i])
  if id > last then
    redis.call('XADD', KEYS[1], id .. '-0', 'm', ARGV[i + 1])
    last = id
    copied = copied + 1
  end
end
if last > tonumber(redis.call('HGET', KEYS[2], 'id') or '0') then
  redis.call('HSET', KEYS[2], 'id', last)
end
return copied

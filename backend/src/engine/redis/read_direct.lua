-- A page of one user's direct messages (sent and received).
-- KEYS[1] the user's meta hash (epoch)   KEYS[2] the user's log
-- ARGV[1] an epoch, used if there is none yet
-- ARGV[2] 'since' (after id ARGV[3], oldest first) or 'latest' (newest first)
-- ARGV[3] the id   ARGV[4] how many
-- Returns {epoch, the user's last id (0: none), message JSON...}.
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local entries
if ARGV[2] == 'since' then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
else
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last = '0'
if #newest > 0 then
  last = string.match(newest[1][1], '^(%d+)')
end
local out = {epoch, last}
for _, entry in ipairs(entries) do
  out[#out + 1] = entry[2][2]
end
return out

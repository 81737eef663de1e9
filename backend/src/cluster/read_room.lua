-- A page of a room's log, with what is needed to judge it, in one consistent view.
-- KEYS[1] the room's meta hash   KEYS[2] its log
-- ARGV[1] an epoch, used if the log has none yet (a log's identity exists from its first read)
-- ARGV[2] 'since' (after seq ARGV[3], oldest first), 'before' (before seq ARGV[3], newest
-- first) or 'latest' (newest first)   ARGV[4] how many
-- Returns {epoch, last seq, oldest seq still kept (0: none), message JSON...}.
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
local entries
if ARGV[2] == 'since' then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
elseif ARGV[2] == 'before' then
  entries = redis.call('XREVRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '-', 'COUNT', ARGV[4])
else
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = '0'
if #first > 0 then
  oldest = string.match(first[1][1], '^(%d+)')
end
local out = {epoch, seq, oldest}
for _, entry in ipairs(entries) do
  out[#out + 1] = entry[2][2]
end
return out

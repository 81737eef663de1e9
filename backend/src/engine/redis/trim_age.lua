-- Retention by age for one log (a room's or a user's stream): deletes the oldest entries
-- while their "ts" is before the cutoff, stopping at the first newer one (timestamps follow
-- the log's order, up to the clock differences between nodes). The stream itself stays, so
-- its last ID (and with it the numbering) is kept.
-- KEYS[1] the log   KEYS[2], KEYS[3], KEYS[4] (rooms) its side hashes by entry id: authors,
-- changes, images (and, built from KEYS[3], each message's reactions)
-- ARGV[1] the cutoff, ms since the Unix epoch   ARGV[2] most entries to
-- look at in this call (the caller calls again while the answer says there is more)
-- Returns {deleted, more}: more is 1 when the limit stopped it.
local cutoff = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local deleted = 0
local start = '-'
local last = nil
while budget > 0 do
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', math.min(100, budget))
  if #entries == 0 then
    -- Every entry was old.
    if deleted > 0 then
      redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
    end
    return {deleted, 0}
  end
  for _, entry in ipairs(entries) do
    local ts = tonumber(cjson.decode(entry[2][2]).ts)
    if ts == nil or ts >= cutoff then
      if deleted > 0 then
        redis.call('XTRIM', KEYS[1], 'MINID', entry[1])
      end
      return {deleted, 0}
    end
    deleted = deleted + 1
    last = entry[1]
    if #KEYS > 1 then
      local id = string.match(last, '^(%d+)')
      redis.call('HDEL', KEYS[2], id)
      -- A deletion's entry stays: readers need it to forget the words in replies' quotes and
      -- edits still in the log (send_room.lua keeps it the same way).
      local gone = redis.call('HGET', KEYS[3], id)
      if not (gone and string.find(gone, '"kind":"deleted"', 1, true)) then
        redis.call('HDEL', KEYS[3], id)
      end
      redis.call('HDEL', KEYS[4], id, id .. 'p')
      -- The message's reactions (send_room.lua's "...:rx:ID", in the same hash slot).
      redis.call('DEL', (string.gsub(KEYS[3], ':changes$', ':rx:')) .. id)
    end
    start = '(' .. last
  end
  budget = budget - #entries
end
-- The limit stopped it: drop what was looked at (all old), and say there may be more.
redis.call('XTRIM', KEYS[1], 'MINID', last)
redis.call('XDEL', KEYS[1], last)
return {deleted, 1}

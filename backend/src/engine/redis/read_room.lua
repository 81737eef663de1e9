-- A page of a room's log, with what is needed to judge it, in one consistent view.
-- KEYS[1] the room's meta hash   KEYS[2] its log   KEYS[3] its changes hash
-- ARGV[1] an epoch, used if the log has none yet (a log's identity exists from its first read)
-- ARGV[2] 'since' (every entry after seq ARGV[3], oldest first), 'before' (messages before
-- seq ARGV[3], newest first), 'after' (messages after seq ARGV[3], oldest first), 'latest'
-- (messages, newest first) or 'at' (message ARGV[3])
-- ARGV[4] how many
-- Returns {epoch, last seq, oldest seq still kept (0: none), then per entry: its JSON, its
-- message's changes (its last edit or its deletion; before the state layout of
-- send_room.lua, every change, one JSON per line; '' for none, or for a change), its
-- reactions (one "SEQ EMOJI NICK" per line, any order; '' for none), and '1' when the
-- entry holds words of a message deleted since (a reply's quote of it, an edit or a link
-- preview of it; the reader forgets them) or ''}.
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
local out = {epoch, seq, '0'}
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then
  out[3] = string.match(first[1][1], '^(%d+)')
end
-- Whether message ID was deleted: a deletion replaces the message's changes with itself.
-- (The pattern cannot match inside a text: JSON escapes the quotes there.)
local function deleted(id)
  local changes = redis.call('HGET', KEYS[3], id)
  return changes ~= false and string.find(changes, '"kind":"deleted"', 1, true) ~= nil
end
local rx = string.gsub(KEYS[3], ':changes$', ':rx:')
-- Message ID's reactions, one "SEQ EMOJI NICK" per line.
local function reactions(id)
  local fields = redis.call('HGETALL', rx .. id)
  local lines = {}
  for i = 1, #fields, 2 do
    local emoji = string.match(fields[i], '^r (%S+) ')
    if emoji then
      local seq, nick = string.match(fields[i + 1], '^(%d+) (.*)$')
      lines[#lines + 1] = seq .. ' ' .. emoji .. ' ' .. nick
    end
  end
  return table.concat(lines, '\n')
end
local function add(entry)
  local json = entry[2][2]
  out[#out + 1] = json
  local quoted
  if entry[2][1] == 'm' then
    local id = string.match(entry[1], '^(%d+)')
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
    out[#out + 1] = reactions(id)
    quoted = string.match(json, '"reply_to":{"id":(%d+),')
  else
    out[#out + 1] = ''
    out[#out + 1] = ''
    if string.find(json, '"kind":"edited"', 1, true) or string.find(json, '"kind":"previewed"', 1, true) then
      quoted = string.match(json, ',"target":(%d+),')
    end
  end
  if quoted and deleted(quoted) then
    out[#out + 1] = '1'
  else
    out[#out + 1] = ''
  end
end
local want = tonumber(ARGV[4])
if ARGV[2] == 'since' then
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '+', 'COUNT', want)) do
    add(entry)
  end
elseif ARGV[2] == 'at' then
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], ARGV[3] .. '-0', ARGV[3] .. '-0')) do
    if entry[2][1] == 'm' then
      add(entry)
    end
  end
else
  -- Messages only: changes in between are skipped, a batch at a time, until the page is full
  -- or the log's end is reached: newest first from the end ('latest') or before a seq
  -- ('before'), oldest first after one ('after').
  local forward = ARGV[2] == 'after'
  local from = '+'
  if ARGV[2] ~= 'latest' then
    from = '(' .. ARGV[3] .. '-0'
  end
  local found = 0
  while found < want do
    local batch
    if forward then
      batch = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', want)
    else
      batch = redis.call('XREVRANGE', KEYS[2], from, '-', 'COUNT', want)
    end
    for _, entry in ipairs(batch) do
      if entry[2][1] == 'm' and found < want then
        add(entry)
        found = found + 1
      end
    end
    if #batch < want then
      break
    end
    from = '(' .. batch[#batch][1]
  end
end
return out

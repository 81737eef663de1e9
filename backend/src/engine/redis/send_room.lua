-- One room log entry, atomically: idempotency check, the check of the message it refers to,
-- next seq, append to the log, doorbell.
-- KEYS[1] the room's meta hash (seq, epoch)   KEYS[2] its log (a stream; entry ID = seq-0)
-- KEYS[3] this (sender, client_id)'s idempotency key
-- KEYS[4] the room's authors hash (message id -> sender key; a deleted message has none)
-- KEYS[5] the room's changes hash (message id -> its change entries, one JSON per line)
-- KEYS[6] the room's images hash (message id -> the id of its image or file; see
-- index_images.lua)
-- ARGV[1] an epoch, used if the log has none yet   ARGV[2] the idempotency window, ms
-- ARGV[3] the room's Pub/Sub channel   ARGV[4] the entry's JSON members after id and seq
-- ARGV[5] entries kept in the log (0: all)   ARGV[6] the sender's key
-- ARGV[7] 'message', 'edit', 'delete', 'react_on', 'react_off' or 'preview'
-- ARGV[8] the id of the message referred to (a change's target, a reply's original; '' none)
-- ARGV[9] '1' when only that message's author may refer to it
-- ARGV[10] a reaction's emoji   ARGV[11] the sender's nickname
-- ARGV[12] most distinct emoji on a message   ARGV[13] most of one user's on a message
--
-- A message's state is kept up to date by each change, so no change (and no read) replays
-- the ones before it: the changes hash holds the message's last edit or its deletion (one
-- entry), and "...:rx:ID" (same hash slot) its reactions: field "r EMOJI USER" = "SEQ NICK",
-- "k EMOJI" = that emoji's users, "u USER" = that user's reactions, "#" = distinct emoji.
-- Changes stored before this layout (every entry of the message, one per line) are folded
-- into it the first time the message changes again (`settle`, then `adopt` per user).
-- ARGV[14] the id of the message's image or file, or of a preview's image ('' none)
-- ARGV[15] how to ring the doorbell: 'SPUBLISH' on a Redis Cluster (the room's channel is on
-- the room's shard), 'PUBLISH' on one Redis, '' not here (the node rings it once replicas
-- have the entry: --redis-wait-replicas)
-- A link preview ('preview') follows the message's last edit in its changes hash value, one
-- per line: a reader folds them in order (RoomMessage::apply keeps a preview only while its
-- link is the text's first, so a late preview of an earlier text is read and ignored). An
-- edit or a deletion replaces the value, and with it the previews. Its image is named in the
-- images hash under the field "IDp".
-- The stream field is 'm' for a message, 'c' for a change (pages skip changes).
-- The doorbell is "EPOCH ENTRY-JSON": a node notices a log that was replaced under it.
-- Returns {1, entry JSON, epoch} when stored now, {0, original JSON} for a repeat,
-- {-1} when the message referred to is not there (or deleted), {-2} when it is not the
-- sender's, {-3, has, mine, known, kinds} when a reaction is past a cap (the numbers the
-- caller's rule, store::reaction_caps, words the refusal from).
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
local kind = ARGV[7]
local rx = string.gsub(KEYS[5], ':changes$', ':rx:')

-- Adds (on) or takes back (off) USER's EMOJI on message ID at SEQ; no check.
local function react(id, emoji, user, nick, seq, on)
  local key = rx .. id
  local field = 'r ' .. emoji .. ' ' .. user
  if on then
    if redis.call('HSETNX', key, field, seq .. ' ' .. nick) == 1 then
      if redis.call('HINCRBY', key, 'k ' .. emoji, 1) == 1 then
        redis.call('HINCRBY', key, '#', 1)
      end
      redis.call('HINCRBY', key, 'u ' .. user, 1)
    end
  elseif redis.call('HDEL', key, field) == 1 then
    if redis.call('HINCRBY', key, 'k ' .. emoji, -1) <= 0 then
      redis.call('HDEL', key, 'k ' .. emoji)
      redis.call('HINCRBY', key, '#', -1)
    end
    if redis.call('HINCRBY', key, 'u ' .. user, -1) <= 0 then
      redis.call('HDEL', key, 'u ' .. user)
    end
  end
end

-- Folds message ID's changes stored one per line (before the state layout) into it.
-- (Only a value with reactions needs it: edits one per line fold as they are, and an edit
-- or a preview's value, several lines, must not be cut to its last.)
local function settle(id)
  local old = redis.call('HGET', KEYS[5], id)
  if not old or not string.find(old, '"kind":"reacted"', 1, true) then
    return
  end
  local last = false
  for line in string.gmatch(old, '[^\n]+') do
    local change = cjson.decode(line)
    if change.change.kind == 'reacted' then
      -- Old entries name the reactor by nickname only: its lower-cased form stands for the user.
      react(id, change.change.emoji, 'nick:' .. string.lower(change.from), change.from, change.seq, change.change.on)
    else
      last = line
    end
  end
  if last then
    redis.call('HSET', KEYS[5], id, last)
  else
    redis.call('HDEL', KEYS[5], id)
  end
end

-- Gives USER (now called NICK) the reactions `settle` folded under NICK: they were made by
-- whoever had that nickname then, which is the best the old entries say. After this, taking
-- one back removes it and making it again does not count the user twice.
local function adopt(id, user, nick)
  local legacy = 'nick:' .. string.lower(nick)
  local key = rx .. id
  if user == legacy or not redis.call('HGET', key, 'u ' .. legacy) then
    return
  end
  local suffix = ' ' .. legacy
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 2) == 'r ' and string.sub(field, -#suffix) == suffix then
      local emoji = string.sub(field, 3, -#suffix - 1)
      local seq, by = string.match(redis.call('HGET', key, field), '^(%d+) (.*)$')
      react(id, emoji, legacy, by, seq, false)
      react(id, emoji, user, by, seq, true)
    end
  end
end

local target_id = ARGV[8]
if kind == 'react_on' and target_id ~= '' and redis.call('HEXISTS', KEYS[4], target_id) == 1 then
  settle(target_id)
  adopt(target_id, ARGV[6], ARGV[11])
  local key = rx .. target_id
  local emoji, user = ARGV[10], ARGV[6]
  local has = redis.call('HEXISTS', key, 'r ' .. emoji .. ' ' .. user)
  local mine = tonumber(redis.call('HGET', key, 'u ' .. user) or '0')
  local known = redis.call('HEXISTS', key, 'k ' .. emoji)
  local kinds = tonumber(redis.call('HGET', key, '#') or '0')
  if has == 0 and (mine >= tonumber(ARGV[13]) or (known == 0 and kinds >= tonumber(ARGV[12]))) then
    return {-3, has, mine, known, kinds}
  end
end

redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = '{"id":' .. seq .. ',"seq":' .. seq .. ',' .. ARGV[4] .. '}'
local field = 'm'
if kind ~= 'message' then
  field = 'c'
end
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '=', keep, seq .. '-0', field, entry)
  -- What fell out of the log leaves the side hashes too (ids are seqs here).
  if seq > keep then
    redis.call('HDEL', KEYS[4], seq - keep)
    -- A deletion's entry stays (a few bytes a deleted message): readers still need it to
    -- forget the words in replies' quotes and edits that outlive the message in the log.
    local gone = redis.call('HGET', KEYS[5], seq - keep)
    if not (gone and string.find(gone, '"kind":"deleted"', 1, true)) then
      redis.call('HDEL', KEYS[5], seq - keep)
    end
    redis.call('DEL', rx .. (seq - keep))
    redis.call('HDEL', KEYS[6], seq - keep, (seq - keep) .. 'p')
  end
else
  redis.call('XADD', KEYS[2], seq .. '-0', field, entry)
end
if kind == 'message' then
  redis.call('HSET', KEYS[4], seq, ARGV[6])
  if ARGV[14] ~= '' then
    redis.call('HSET', KEYS[6], seq, ARGV[14])
  end
elseif kind == 'delete' then
  -- The deletion replaces the message's earlier changes: its edits' words and its reactions
  -- leave Redis's side keys, and a reader folds the deletion alone.
  redis.call('HSET', KEYS[5], target, entry)
  redis.call('DEL', rx .. target)
  -- Its image or file (and its preview's image) is no longer named (the sweep removes it
  -- after the grace).
  redis.call('HDEL', KEYS[6], target, target .. 'p')
  redis.call('HDEL', KEYS[4], target)
elseif kind == 'edit' then
  settle(target)
  redis.call('HSET', KEYS[5], target, entry)
  -- An edit drops the preview (RoomMessage::apply), so its image is no longer named (as
  -- SQLite's edit clears its preview column).
  redis.call('HDEL', KEYS[6], target .. 'p')
elseif kind == 'preview' then
  settle(target)
  local old = redis.call('HGET', KEYS[5], target)
  if old then
    redis.call('HSET', KEYS[5], target, old .. '\n' .. entry)
  else
    redis.call('HSET', KEYS[5], target, entry)
  end
  if ARGV[14] ~= '' then
    redis.call('HSET', KEYS[6], target .. 'p', ARGV[14])
  end
else
  settle(target)
  adopt(target, ARGV[6], ARGV[11])
  react(target, ARGV[10], ARGV[6], ARGV[11], seq, kind == 'react_on')
end
if ARGV[15] ~= '' then
  redis.call(ARGV[15], ARGV[3], epoch .. ' ' .. entry)
end
redis.call('SET', KEYS[3], entry, 'PX', ARGV[2])
return {1, entry, epoch}

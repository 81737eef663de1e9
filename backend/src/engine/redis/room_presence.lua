-- One room's presence: who is in it on which node, its members sorted for paging. Every key
-- lives in the room's hash slot (KEYS[1] is "chat:{r:ROOM}", the keys are built from it), so
-- on a Redis Cluster a room's presence is on the room's shard, beside its log, and its events
-- go out on the room's own channel (KEYS[1]'s name) like its messages.
--
--   holds:NODE   the users NODE has tabs of in the room (a set; the sweeper empties a dead
--                node's, see presence.lua)
--   count        user -> how many nodes have tabs of them here
--   members      user -> nickname
--   order        sorted set of "KEY\0NAME" (KEY: the nickname's lower-cased key, given by the
--                node; all scores 0, so ZRANGEBYLEX pages it)
--   entry        user -> their entry in order (a leave or a rename finds it)
--   version      counts the changes of the member list: the node writes the count it reads
--                with it into the room list (presence.lua `count`), where an older one never
--                overwrites a newer one
--
-- Presence events go to the room's channel as "~USER JSON" (JSON: a chat server event; a
-- member's arrival or departure is a `presence` event naming one user, with the room's count,
-- which each node coalesces with others before its clients see it).
--
-- ARGV[1] the operation   ARGV[2] 'SPUBLISH' on a Redis Cluster, 'PUBLISH' on one Redis
-- ARGV[3] the room's name; the rest depends on the operation (see each branch).
-- join, leave and sweep return {count, version, changed} first (changed: 1 when the member
-- list changed, so the room list is to be told).
local r = KEYS[1]
local op, publish, room = ARGV[1], ARGV[2], ARGV[3]

local function holds(node) return r .. ':holds:' .. node end
local members, count, order, entry, version =
  r .. ':members', r .. ':count', r .. ':order', r .. ':entry', r .. ':version'

-- A `presence` event for one user who joined or left: built by hand, because cjson writes an
-- empty table as {} and the other list must be [].
local function announce_member(user, name, joined)
  local who = '[' .. cjson.encode(name) .. ']'
  local event = '{"type":"presence","room":' .. cjson.encode(room) .. ',"count":'
    .. redis.call('HLEN', members) .. ',"joined":' .. (joined and who or '[]')
    .. ',"left":' .. (joined and '[]' or who) .. '}'
  redis.call(publish, r, '~' .. user .. ' ' .. event)
end

-- Puts USER in the sorted order under nickname key KEY, name NAME.
local function sort_in(user, key, name)
  local old = redis.call('HGET', entry, user)
  if old then
    redis.call('ZREM', order, old)
  end
  local new = key .. '\0' .. name
  redis.call('ZADD', order, 0, new)
  redis.call('HSET', entry, user, new)
end

-- The names in order from MIN to MAX (ZRANGEBYLEX bounds), at most LIMIT: returns
-- {more, name, name, ...}, more being 1 when others follow.
local function page(min, max, limit)
  local found = redis.call('ZRANGEBYLEX', order, min, max, 'LIMIT', 0, limit + 1)
  local out = {0}
  for i, e in ipairs(found) do
    if i > limit then
      out[1] = 1
    else
      out[#out + 1] = string.match(e, '%z(.*)$')
    end
  end
  return out
end

-- USER's tabs on NODE left: gone from the room when no node has any left. True if the
-- member list changed.
local function leave(user, node)
  if redis.call('SREM', holds(node), user) == 0 then
    return false
  end
  if redis.call('HINCRBY', count, user, -1) > 0 then
    return false
  end
  redis.call('HDEL', count, user)
  local name = redis.call('HGET', members, user)
  redis.call('HDEL', members, user)
  local sorted = redis.call('HGET', entry, user)
  if sorted then
    redis.call('ZREM', order, sorted)
    redis.call('HDEL', entry, user)
  end
  if name then
    announce_member(user, name, false)
  end
  return true
end

-- {count, version, changed}: what the room list is told after a change.
local function told(changed)
  local v
  if changed then
    v = redis.call('INCR', version)
  else
    v = tonumber(redis.call('GET', version) or '0')
  end
  return {redis.call('HLEN', members), v, changed and 1 or 0}
end

if op == 'join' then
  -- ARGV: user key, nickname, node, nickname key, page size. Returns {count, version,
  -- changed, more, name...}: the first page of members after the join.
  local user, name, node, key = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local changed = false
  if redis.call('SADD', holds(node), user) == 1 then
    if redis.call('HINCRBY', count, user, 1) == 1 then
      redis.call('HSET', members, user, name)
      sort_in(user, key, name)
      announce_member(user, name, true)
      changed = true
    end
  end
  local out = told(changed)
  for _, v in ipairs(page('-', '+', tonumber(ARGV[8]))) do
    out[#out + 1] = v
  end
  return out
elseif op == 'members' then
  -- ARGV: ZRANGEBYLEX min and max, page size. Returns {more, name...}.
  return page(ARGV[4], ARGV[5], tonumber(ARGV[6]))
elseif op == 'leave' then
  -- ARGV: user key, node.
  return told(leave(ARGV[4], ARGV[5]))
elseif op == 'sweep' then
  -- ARGV: a dead node. Its users leave (those it alone had tabs of).
  local node = ARGV[4]
  local changed = false
  for _, user in ipairs(redis.call('SMEMBERS', holds(node))) do
    if leave(user, node) then
      changed = true
    end
  end
  redis.call('DEL', holds(node))
  return told(changed)
elseif op == 'renamed' then
  -- ARGV: user key, new nickname, its key: the member list shows the new name.
  if redis.call('HEXISTS', members, ARGV[4]) == 1 then
    redis.call('HSET', members, ARGV[4], ARGV[5])
    sort_in(ARGV[4], ARGV[6], ARGV[5])
  end
  return 1
end
return redis.error_reply('unknown room presence operation ' .. tostring(op))

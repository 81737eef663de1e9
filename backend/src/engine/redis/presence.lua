-- Presence and nicknames shared by every node: who is in which room, who owns which
-- nickname, which nodes are alive. All keys live in the hash slot of KEYS[1] ("chat:{p}"),
-- built here from it, so the script runs unchanged on Redis Cluster.
--
-- Every entry a node holds is also listed in its holdings set, so that when the node dies
-- (its lease key expires) the sweeper can remove exactly its entries:
--   "r ROOM USER"  the node has tabs of USER in ROOM
--   "n NICKKEY"    the node has tabs of the owner of NICKKEY (a nickname has two keys, its
--                  look-alike keys from backend/src/names.rs: "c:" ignoring case, "s:" as
--                  written; two nicknames that share either are one)
-- Presence events go to the room's channel as "~USER JSON" (JSON: a chat server event; a
-- member's arrival or departure is a `presence` event naming one user, with the room's count,
-- which each node coalesces with others before its clients see it).
--
-- A room's members are also kept sorted for paging: "order:ROOM" is a sorted set of
-- "KEY\0NAME" (KEY: the nickname's lower-cased key, given by the node, so the order is the
-- server's; all scores 0, so ZRANGEBYLEX pages it), and "entry:ROOM" maps each user to their
-- entry there, so that a leave or a rename finds it.
--
-- ARGV[1] is the operation; the rest depends on it (see each branch).
local p = KEYS[1]
local op = ARGV[1]

local function holds(node) return p .. ':holds:' .. node end
local function members(room) return p .. ':members:' .. room end
local function count(room) return p .. ':count:' .. room end
local function order(room) return p .. ':order:' .. room end
local function entry(room) return p .. ':entry:' .. room end
local function nick(key) return p .. ':nick:' .. key end
local function channel(room) return 'chat:room:' .. room end

-- A `presence` event for one user who joined or left: built by hand, because cjson writes an
-- empty table as {} and the other list must be [].
local function announce_member(room, user, name, joined)
  local who = '[' .. cjson.encode(name) .. ']'
  local event = '{"type":"presence","room":' .. cjson.encode(room) .. ',"count":'
    .. redis.call('HLEN', members(room)) .. ',"joined":' .. (joined and who or '[]')
    .. ',"left":' .. (joined and '[]' or who) .. '}'
  redis.call('PUBLISH', channel(room), '~' .. user .. ' ' .. event)
end

-- Puts USER in ROOM's sorted order under nickname key KEY, name NAME.
local function sort_in(room, user, key, name)
  local old = redis.call('HGET', entry(room), user)
  if old then
    redis.call('ZREM', order(room), old)
  end
  local new = key .. '\0' .. name
  redis.call('ZADD', order(room), 0, new)
  redis.call('HSET', entry(room), user, new)
end

-- The names in ROOM's order from MIN to MAX (ZRANGEBYLEX bounds), at most LIMIT: returns
-- {more, name, name, ...}, more being 1 when others follow.
local function page(room, min, max, limit)
  local found = redis.call('ZRANGEBYLEX', order(room), min, max, 'LIMIT', 0, limit + 1)
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

-- USER's tabs on NODE left ROOM: gone from the room when no node has any left.
local function leave(room, user, node)
  if redis.call('SREM', holds(node), 'r ' .. room .. ' ' .. user) == 0 then
    return
  end
  if redis.call('HINCRBY', count(room), user, -1) > 0 then
    return
  end
  redis.call('HDEL', count(room), user)
  local name = redis.call('HGET', members(room), user)
  redis.call('HDEL', members(room), user)
  local sorted = redis.call('HGET', entry(room), user)
  if sorted then
    redis.call('ZREM', order(room), sorted)
    redis.call('HDEL', entry(room), user)
  end
  if redis.call('HLEN', members(room)) == 0 then
    redis.call('SREM', p .. ':rooms', room)
  end
  if name then
    announce_member(room, user, name, false)
  end
end

-- NODE has no tab of the owner of nickname key KEY any more.
local function release(key, node)
  redis.call('SREM', holds(node), 'n ' .. key)
  redis.call('HDEL', nick(key), 'n:' .. node)
  local fields = redis.call('HKEYS', nick(key))
  for _, field in ipairs(fields) do
    if string.sub(field, 1, 2) == 'n:' then
      return
    end
  end
  redis.call('DEL', nick(key))
end

if op == 'join' then
  -- ARGV: room, user key, nickname, node, nickname key, page size. Returns the room's
  -- member count after the join, then the first page of members: {count, more, name...}.
  local room, user, name, node, key = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  if redis.call('SADD', holds(node), 'r ' .. room .. ' ' .. user) == 1 then
    if redis.call('HINCRBY', count(room), user, 1) == 1 then
      redis.call('HSET', members(room), user, name)
      sort_in(room, user, key, name)
      redis.call('SADD', p .. ':rooms', room)
      announce_member(room, user, name, true)
    end
  end
  local first = page(room, '-', '+', tonumber(ARGV[7]))
  table.insert(first, 1, redis.call('HLEN', members(room)))
  return first
elseif op == 'members' then
  -- ARGV: room, ZRANGEBYLEX min and max, page size. Returns {more, name...}.
  return page(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
elseif op == 'leave' then
  -- ARGV: room, user key, node.
  leave(ARGV[2], ARGV[3], ARGV[4])
  return 1
elseif op == 'claim' then
  -- ARGV: user key, nickname, node, then the nickname's keys. 1 if the nickname is the
  -- user's now: no other user holds any of its keys.
  local user, name, node = ARGV[2], ARGV[3], ARGV[4]
  for i = 5, #ARGV do
    local owner = redis.call('HGET', nick(ARGV[i]), 'owner')
    if owner and owner ~= user then
      return 0
    end
  end
  for i = 5, #ARGV do
    redis.call('HSET', nick(ARGV[i]), 'owner', user, 'nick', name, 'n:' .. node, 1)
    redis.call('SADD', holds(node), 'n ' .. ARGV[i])
  end
  return 1
elseif op == 'release' then
  -- ARGV: user key, node, then the nickname keys the user's tabs here let go.
  local user, node = ARGV[2], ARGV[3]
  for i = 4, #ARGV do
    if redis.call('HGET', nick(ARGV[i]), 'owner') == user then
      release(ARGV[i], node)
    end
  end
  return 1
elseif op == 'renamed' then
  -- ARGV: room, user key, new nickname, its key: the member list shows the new name.
  if redis.call('HEXISTS', members(ARGV[2]), ARGV[3]) == 1 then
    redis.call('HSET', members(ARGV[2]), ARGV[3], ARGV[4])
    sort_in(ARGV[2], ARGV[3], ARGV[5], ARGV[4])
  end
  return 1
elseif op == 'present' then
  -- ARGV: node. 1 if the node holds entries (its holdings set exists).
  return redis.call('EXISTS', holds(ARGV[2]))
elseif op == 'rooms' then
  -- Every room with members, as {name, count, name, count, ...}.
  local out = {}
  for _, room in ipairs(redis.call('SMEMBERS', p .. ':rooms')) do
    out[#out + 1] = room
    out[#out + 1] = redis.call('HLEN', members(room))
  end
  return out
elseif op == 'tick' then
  -- ARGV: node, lease ms, sweeper lock ms, grace ms. Renews this node's lease; the node
  -- holding the sweeper lock (taken here when free) removes the entries of every node whose
  -- lease has been gone for the grace period: a lease that ran out while Redis itself was
  -- down (a restart) is renewed by its live node within the grace, and nothing is swept.
  -- Returns the nodes swept.
  local node, lease, lock, grace = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
  redis.call('SET', p .. ':alive:' .. node, 1, 'PX', lease)
  redis.call('DEL', p .. ':missing:' .. node)
  redis.call('SADD', p .. ':nodes', node)
  local holder = redis.call('GET', p .. ':sweeper')
  if holder and holder ~= node then
    return {}
  end
  redis.call('SET', p .. ':sweeper', node, 'PX', lock)
  local swept = {}
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  for _, other in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
    local dead = false
    if redis.call('EXISTS', p .. ':alive:' .. other) == 0 then
      local since = redis.call('GET', p .. ':missing:' .. other)
      if not since then
        redis.call('SET', p .. ':missing:' .. other, now, 'PX', lease * 10)
      elseif now - tonumber(since) >= grace then
        dead = true
      end
    end
    if dead then
      for _, entry in ipairs(redis.call('SMEMBERS', holds(other))) do
        local kind, rest = string.match(entry, '^(%a) (.*)$')
        if kind == 'r' then
          local room, user = string.match(rest, '^(%S+) (%S+)$')
          leave(room, user, other)
        elseif kind == 'n' then
          release(rest, other)
        end
      end
      redis.call('DEL', holds(other), p .. ':missing:' .. other)
      redis.call('SREM', p .. ':nodes', other)
      swept[#swept + 1] = other
    end
  end
  return swept
end
return redis.error_reply('unknown presence operation ' .. tostring(op))

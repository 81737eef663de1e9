-- What the nodes share beside the rooms' own presence (room_presence.lua) and the nickname
-- leases (nick.lua): which nodes are alive, what each holds, which rooms have members. All
-- keys live in the hash slot of KEYS[1] ("chat:{p}"), built here from it, so the script runs
-- unchanged on Redis Cluster.
--
-- Every entry a node holds is also listed in its holdings set, so that when the node dies
-- (its lease key expires) the sweeper can remove exactly its entries:
--   "r ROOM"       the node has (or had) tabs in ROOM: its entries there are in the room's
--                  slot, swept by room_presence.lua `sweep` (written before the node's first
--                  join there, so a node never holds a room it has not listed)
--   "n NICKKEY"    the node has (or had) tabs of the owner of NICKKEY, a nickname key
--                  whose lease (nick.lua, in the key's own slot) the sweeper ends for it
--                  (written before the node's claim)
-- The room list is a hash, room -> member count, written by the nodes after each change of a
-- room's members with the room's version (room_presence.lua): an older count never
-- overwrites a newer one.
--
-- ARGV[1] is the operation; the rest depends on it (see each branch).
local p = KEYS[1]
local op = ARGV[1]

local function holds(node) return p .. ':holds:' .. node end

if op == 'hold' then
  -- ARGV: node, room. The node is about to enter a member in the room.
  redis.call('SADD', holds(ARGV[2]), 'r ' .. ARGV[3])
  return 1
elseif op == 'count' then
  -- ARGV: room, member count, the room's version with it. 1 if written (newer).
  local room, n, version = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
  if version <= tonumber(redis.call('HGET', p .. ':rver', room) or '0') then
    return 0
  end
  redis.call('HSET', p .. ':rver', room, version)
  if n > 0 then
    redis.call('HSET', p .. ':rooms', room, n)
  else
    redis.call('HDEL', p .. ':rooms', room)
  end
  return 1
elseif op == 'hold_nicks' then
  -- ARGV: node, then nickname keys the node is about to claim.
  for i = 3, #ARGV do
    redis.call('SADD', holds(ARGV[2]), 'n ' .. ARGV[i])
  end
  return 1
elseif op == 'present' then
  -- ARGV: node. 1 if the node holds entries (its holdings set exists).
  return redis.call('EXISTS', holds(ARGV[2]))
elseif op == 'rooms' then
  -- Every room with members, as {name, count, name, count, ...}.
  return redis.call('HGETALL', p .. ':rooms')
elseif op == 'swept' then
  -- ARGV: a dead node whose rooms were swept: its holdings go.
  redis.call('DEL', holds(ARGV[2]))
  redis.call('SREM', p .. ':sweeping', ARGV[2])
  return 1
elseif op == 'tick' then
  -- ARGV: node, lease ms, sweeper lock ms, grace ms. Renews this node's lease; the node
  -- holding the sweeper lock (taken here when free) finds every node whose lease has been
  -- gone for the grace period: a lease that ran out while Redis itself was down (a restart)
  -- is renewed by its live node within the grace, and nothing is swept. A dead node's rooms
  -- and nickname keys are for the caller to sweep (each in its own slot), then `swept`:
  -- until then the node stays listed as sweeping, and every tick of the sweeper returns it
  -- again. Returns {{node, holding, holding...}, ...}, each holding "r ROOM" or "n KEY".
  local node, lease, lock, grace = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
  redis.call('SET', p .. ':alive:' .. node, 1, 'PX', lease)
  redis.call('DEL', p .. ':missing:' .. node)
  redis.call('SADD', p .. ':nodes', node)
  local holder = redis.call('GET', p .. ':sweeper')
  if holder and holder ~= node then
    return {}
  end
  redis.call('SET', p .. ':sweeper', node, 'PX', lock)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  for _, other in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
    if redis.call('EXISTS', p .. ':alive:' .. other) == 0 then
      local since = redis.call('GET', p .. ':missing:' .. other)
      if not since then
        redis.call('SET', p .. ':missing:' .. other, now, 'PX', lease * 10)
      elseif now - tonumber(since) >= grace then
        redis.call('DEL', p .. ':missing:' .. other)
        redis.call('SREM', p .. ':nodes', other)
        redis.call('SADD', p .. ':sweeping', other)
      end
    end
  end
  local out = {}
  for _, dead in ipairs(redis.call('SMEMBERS', p .. ':sweeping')) do
    local held = {dead}
    for _, entry in ipairs(redis.call('SMEMBERS', holds(dead))) do
      held[#held + 1] = entry
    end
    out[#out + 1] = held
  end
  return out
end
return redis.error_reply('unknown presence operation ' .. tostring(op))

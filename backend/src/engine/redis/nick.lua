-- One nickname key's lease (a nickname has two, its look-alike keys from
-- backend/src/names.rs: "c:" the UTS #39 skeleton of the lower case, "s:" the skeleton as
-- written; two nicknames that share either are one). KEYS[1] is the key's hash, "chat:{n:KEY}": each in its own hash slot, so claims
-- spread over a Redis Cluster by name. Fields: owner (user key), nick (as they spell it), and
-- "n:NODE" for each node with tabs of the owner holding it; the lease ends with the last.
-- A nickname is claimed key by key ("c:" first, then "s:", rolled back if the second is
-- someone else's): every key has at most one owner at a time, so no two users ever hold one
-- nickname, and of two racing for it one wins (both may lose only if each takes a key the
-- other needs, which cannot happen: every claim takes its "c:" key first).
-- ARGV[1] the operation, ARGV[2] the user key (claim, release) or the node (sweep).
local key, op = KEYS[1], ARGV[1]

-- Drops NODE's hold; the lease ends when no node holds it.
local function let_go(node)
  redis.call('HDEL', key, 'n:' .. node)
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 2) == 'n:' then
      return
    end
  end
  redis.call('DEL', key)
end

if op == 'claim' then
  -- ARGV: user key, nickname, node. 0 if someone else owns the key; 2 if the user held it
  -- through this node already (nothing changes: a failed claim of another name must not
  -- undo it); 1 if the node holds it for the user now.
  local owner = redis.call('HGET', key, 'owner')
  if owner and owner ~= ARGV[2] then
    return 0
  end
  if owner and redis.call('HEXISTS', key, 'n:' .. ARGV[4]) == 1 then
    return 2
  end
  redis.call('HSET', key, 'owner', ARGV[2], 'nick', ARGV[3], 'n:' .. ARGV[4], 1)
  return 1
elseif op == 'release' then
  -- ARGV: user key, node: the node has no tab of the user holding the key any more.
  if redis.call('HGET', key, 'owner') == ARGV[2] then
    let_go(ARGV[3])
  end
  return 1
elseif op == 'sweep' then
  -- ARGV: a dead node.
  let_go(ARGV[2])
  return 1
end
return redis.error_reply('unknown nickname operation ' .. tostring(op))

-- The upload quotas' counts (quota.rs), each step atomic so that nodes uploading at once
-- cannot both pass a limit that leaves room for one of them.
-- ARGV[1] is the operation:
--   'charge'   KEYS[1] a user's counter for the day; ARGV[2] bytes, ARGV[3] the quota,
--              ARGV[4] the counter's lifetime in seconds. Adds the bytes if the counter stays
--              within the quota: returns 1, else 0 (nothing added).
--   'total'    KEYS[1] the total's hash: returns base + added - base_added.
--   'reserve'  KEYS[1] the total's hash; ARGV[2] bytes, ARGV[3] the cap. Adds the bytes to
--              'added' if the total stays within the cap: returns 1, else 0.
--   'measured' KEYS[1] the total's hash; ARGV[2] the bytes a sweep found on disk, ARGV[3]
--              'added' when that sweep began. Returns 1.
local op = ARGV[1]

local function total()
  local fields = redis.call('HMGET', KEYS[1], 'base', 'added', 'base_added')
  local base = tonumber(fields[1] or '0')
  local added = tonumber(fields[2] or '0')
  local base_added = tonumber(fields[3] or '0')
  local sum = base + added - base_added
  if sum < 0 then
    return 0
  end
  return sum
end

if op == 'charge' then
  local used = tonumber(redis.call('GET', KEYS[1]) or '0')
  local bytes = tonumber(ARGV[2])
  if used + bytes > tonumber(ARGV[3]) then
    return 0
  end
  redis.call('INCRBY', KEYS[1], bytes)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
elseif op == 'total' then
  return total()
elseif op == 'reserve' then
  local bytes = tonumber(ARGV[2])
  if total() + bytes > tonumber(ARGV[3]) then
    return 0
  end
  redis.call('HINCRBY', KEYS[1], 'added', bytes)
  return 1
elseif op == 'measured' then
  redis.call('HSET', KEYS[1], 'base', ARGV[2], 'base_added', ARGV[3])
  return 1
end
return redis.error_reply('unknown operation ' .. tostring(op))

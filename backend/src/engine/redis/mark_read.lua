-- Moves a user's read position forward (never back) and, if it moved, tells the user's tabs
-- on every node (on the user's channel, as "~" and the event's JSON).
-- KEYS[1] the user's read positions (a hash: place -> position)
-- ARGV[1] the place   ARGV[2] the position   ARGV[3] the user's channel   ARGV[4] the event
-- ARGV[5] 'SPUBLISH' on a Redis Cluster, 'PUBLISH' on one Redis
-- Returns 1 if it moved, 0 if not.
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= before then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call(ARGV[5], ARGV[3], '~' .. ARGV[4])
return 1

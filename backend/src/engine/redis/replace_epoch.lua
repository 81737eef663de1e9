-- A log that went backwards (a failover to a replica that had not received its latest
-- entries): it gets a new epoch, so that clients holding the lost numbers are reset instead
-- of being sent different messages under them. Compare-and-set: only the first node to
-- notice changes it.
-- KEYS[1] the log's meta hash   ARGV[1] the epoch seen going backwards   ARGV[2] a new one
-- Returns the epoch now.
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'epoch')

-- The upload ids that a room's log names (for the sweep of unused uploads): the values of its
-- images hash, which the send script keeps (message id -> its image's or file's id) and
-- retention trims with
-- the log. Messages stored before the send script kept it are read into it first, once (the
-- field 'indexed' says it was done), atomically with the sends, so none is missed.
-- KEYS[1] the room's log (a stream)   KEYS[2] its images hash
-- Returns every image id named (the 'indexed' mark left out).
if redis.call('HEXISTS', KEYS[2], 'indexed') == 0 then
  local entries = redis.call('XRANGE', KEYS[1], '-', '+')
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    if fields[1] == 'm' then
      local ok, message = pcall(cjson.decode, fields[2])
      if ok and type(message.image) == 'table' and message.image.id then
        redis.call('HSET', KEYS[2], message.id, message.image.id)
      elseif ok and type(message.file) == 'table' and message.file.id then
        redis.call('HSET', KEYS[2], message.id, message.file.id)
      end
    end
  end
  redis.call('HSET', KEYS[2], 'indexed', '1')
end
local ids = {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i] ~= 'indexed' then
    ids[#ids + 1] = all[i + 1]
  end
end
return ids

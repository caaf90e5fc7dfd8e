-- Settles (or rolls back) what one request reserved in one scope.
--
-- KEYS[1] token counter of the minute the request reserved in
-- KEYS[2] leases (requests in flight)
-- KEYS[3] budget spend of the window the request was admitted in
-- KEYS[4] requests log
-- ARGV[1] tokens to add to KEYS[1], signed (actual - reserved); never below zero
-- ARGV[2] request id whose lease ends ('' : none)
-- ARGV[3] cost to add to KEYS[3], nano-USD ('0': none)
-- ARGV[4] time to keep the spend counter (ms)
-- ARGV[5] request id to take out of the requests log ('' : none; a rollback)

if tonumber(ARGV[1]) ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('INCRBY', KEYS[1], ARGV[1]) < 0 then
    redis.call('SET', KEYS[1], 0, 'KEEPTTL')
  end
end
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if ARGV[3] ~= '0' then
  redis.call('INCRBY', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('ZREM', KEYS[4], ARGV[5])
end
return 1

-- Admits one request in one scope: every limit of the scope has room, or nothing is taken.
-- The clock is the server's (TIME), so every data plane counts in the same time.
--
-- KEYS[1] requests log: sorted set, member = request id, score = admission time (ms)
-- KEYS[2] leases (requests in flight): sorted set, member = request id, score = expiry (ms)
-- KEYS[3] budget spend of the current window: counter (nano-USD)
-- ARGV[1] token counters' key prefix: the counter of minute m is ARGV[1] .. m
-- ARGV[2] requests per minute (-1: no limit)
-- ARGV[3] tokens per minute (-1: no limit)
-- ARGV[4] tokens to reserve
-- ARGV[5] requests in flight at most (-1: no limit)
-- ARGV[6] request id
-- ARGV[7] budget hard limit, nano-USD (-1: no budget)
-- ARGV[8] spend in this window as the control plane's ledger last saw it
-- ARGV[9] lease length (ms)
--
-- Returns {admitted (0/1), reason (0 none, 1 requests, 2 tokens, 3 concurrency, 4 budget),
--          now (ms), minute, requests remaining, requests reset (ms),
--          tokens remaining, tokens reset (ms)}.

local MINUTE = 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = math.floor(now / MINUTE)
local elapsed = now - minute * MINUTE
local left = MINUTE - elapsed

local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local max_conc = tonumber(ARGV[5])
local id = ARGV[6]
local budget = tonumber(ARGV[7])
local lease = tonumber(ARGV[9])

-- Requests: an exact sliding log.
local rpm_remaining, rpm_reset = 0, 0
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - MINUTE)
  local used = redis.call('ZCARD', KEYS[1])
  rpm_remaining = math.max(rpm - used, 0)
  if rpm_remaining == 0 then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if oldest[2] then
      rpm_reset = math.max(tonumber(oldest[2]) + MINUTE - now, 1)
    else
      rpm_reset = MINUTE
    end
  end
end

-- Tokens: this minute plus the previous one weighted by what is left of it.
local cur_key = ARGV[1] .. string.format('%d', minute)
local tpm_remaining, tpm_reset = 0, 0
if tpm >= 0 then
  local prev = tonumber(redis.call('GET', ARGV[1] .. string.format('%d', minute - 1)) or '0')
  local cur = tonumber(redis.call('GET', cur_key) or '0')
  if prev < 0 then prev = 0 end
  if cur < 0 then cur = 0 end
  local used = math.floor(prev * left / MINUTE) + cur
  tpm_remaining = math.max(tpm - used, 0)
  -- Same rule as the in-process store (`tokens_reset_ms`).
  if used > 0 and used + need > tpm then
    if need > tpm then
      if cur > 0 then tpm_reset = left + MINUTE else tpm_reset = left end
    else
      local excess = used + need - tpm
      if prev > 0 and excess <= used - cur then
        tpm_reset = math.min(math.ceil(excess * MINUTE / prev), left)
      else
        local excess2 = cur + need - tpm
        if excess2 <= 0 or cur == 0 then
          tpm_reset = left
        else
          tpm_reset = left + math.min(math.ceil(excess2 * MINUTE / cur), MINUTE)
        end
      end
    end
    if tpm_reset < 1 then tpm_reset = 1 end
  end
end

local function answer(admitted, reason)
  return {admitted, reason, now, minute, rpm_remaining, rpm_reset, tpm_remaining, tpm_reset}
end

if budget >= 0 then
  local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
  local seen = tonumber(ARGV[8])
  if seen > spent then spent = seen end
  if spent >= budget then return answer(0, 4) end
end
if rpm >= 0 and rpm_remaining == 0 then return answer(0, 1) end
if tpm >= 0 and tpm_reset > 0 then return answer(0, 2) end
if max_conc >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max_conc then return answer(0, 3) end
end

if rpm >= 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], MINUTE)
  rpm_remaining = rpm_remaining - 1
end
if tpm >= 0 then
  redis.call('INCRBY', cur_key, ARGV[4])
  redis.call('PEXPIRE', cur_key, 3 * MINUTE)
end
if max_conc >= 0 then
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('PEXPIRE', KEYS[2], lease)
end
return answer(1, 0)

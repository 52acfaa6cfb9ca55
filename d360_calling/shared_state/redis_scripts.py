"""The Lua scripts `RedisState` runs: each one atomic round trip that touches one slot.

Every key a script gets in `KEYS` carries the prefix's hash tag, and a channel to publish on
comes in `ARGV`, not `KEYS`, so each script runs on a Redis Cluster as on one Redis.
"""

from __future__ import annotations

from typing import Final

# Every script reads Redis's own clock, so workers on different hosts agree on time.
GATE_CLOSE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wanted = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if wanted > current then
  redis.call('SET', KEYS[1], tostring(wanted), 'PX', ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
end
return 'ok'
"""
GATE_READ: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(math.max(0, until_ms - now))
"""
BUCKET_TAKE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2]) or now
if tokens == nil then tokens = burst end
tokens = math.min(burst, tokens + (now - ts) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
local wait = 0
if tokens < 0 then wait = -tokens / rate end
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate + wait + 1) * 1000))
return tostring(wait)
"""
BUCKET_RETURN: Final = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
end
return 'ok'
"""
BUDGET_FAIL: Final = """
local tokens = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
tokens = math.max(0, tokens - 1)
redis.call('SET', KEYS[1], tostring(tokens), 'PX', ARGV[2])
return tostring(tokens)
"""
BUDGET_EARN: Final = """
local full = tonumber(ARGV[1])
local tokens = math.min(full, tonumber(redis.call('GET', KEYS[1]) or ARGV[1]) + tonumber(ARGV[2]))
if tokens >= full then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tostring(tokens), 'PX', ARGV[3])
end
return tostring(tokens)
"""

# Webhook dedupe by claim. A delivery records each new event key holding its claim (a random
# token): pending (`p<claim>`, for a short time) until its handlers have started, then done
# (`d<claim>`, for the dedupe window). A key pending under another claim means another delivery
# of the event is being recorded right now: the script records nothing and answers -1 (try
# again later), so an event is never dropped as a duplicate of a delivery that may yet fail.
# A delivery that cannot start its handlers gives its keys back: it deletes those holding its
# claim and leaves a marker (`KEYS[#KEYS]`, one per claim), so its own script, if it reaches
# Redis late, records nothing. Re-running the script for the same claim (a client's retry after
# a lost answer) answers the same.
DEDUPE: Final = """
local n = #KEYS - 1
local fresh = {}
if redis.call('EXISTS', KEYS[#KEYS]) == 1 then
  for i = 1, n do fresh[i] = 0 end
  return fresh
end
local mine = {}
mine['p' .. ARGV[2]] = true
mine['d' .. ARGV[2]] = true
for i = 1, n do
  local held = redis.call('GET', KEYS[i])
  if held and not mine[held] and string.sub(held, 1, 1) == 'p' then
    return -1
  end
end
for i = 1, n do
  local held = redis.call('GET', KEYS[i])
  if not held then
    redis.call('SET', KEYS[i], ARGV[3] .. ARGV[2], 'PX', ARGV[1])
    fresh[i] = 1
  elseif mine[held] then
    fresh[i] = 1
  else
    fresh[i] = 0
  end
end
return fresh
"""

CONFIRM: Final = """
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if not held or held == 'p' .. ARGV[2] then
    redis.call('SET', key, 'd' .. ARGV[2], 'PX', ARGV[1])
  end
end
return #KEYS
"""

GIVE_BACK: Final = """
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[2])
end
local count = 0
for i = 1, #KEYS - 1 do
  local held = redis.call('GET', KEYS[i])
  if ARGV[1] == '' or held == 'p' .. ARGV[1] or held == 'd' .. ARGV[1] then
    redis.call('DEL', KEYS[i])
    count = count + 1
  end
end
return count
"""

# The media error throttle of one account: error answers to `GET /{media-id}` as a sorted set
# (`KEYS[1]`, scored by Redis time in ms, only the newest `max_errors` kept) and a block
# (`KEYS[2]`, the ms it ends). ARGV: max_errors, window ms, mode ('wait', 'error' or 'block'),
# block ms, a unique member for the error. Answers the ms until a lookup may go.
MEDIA_THROTTLE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local mode = ARGV[3]
local block = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if mode == 'error' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
  redis.call('PEXPIRE', KEYS[1], window)
  if redis.call('ZCARD', KEYS[1]) >= limit then mode = 'block' end
end
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if mode == 'block' and block > 0 and now + block > blocked then
  blocked = now + block
  redis.call('SET', KEYS[2], tostring(blocked), 'PX', block)
end
local wait = math.max(0, blocked - now)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
return tostring(wait)
"""

package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts below keep redis_rate's encoding: the key holds tat as float
// seconds since 2017-01-01 00:00:00 UTC on Redis's clock (TIME), with an
// expiry of ceil(tat - now) seconds. They compute in integer microseconds
// (exact in a Lua double up to 2^53) with the formulas of internal/gcra, and
// write tat as "<seconds>.<6 digits>", which redis_rate reads with tonumber.
// Each touches one key and does O(1) work.
//
// Arguments are integer microseconds: T the emission interval, tau =
// Burst*T.

// prelude reads Redis's clock and the stored tat, both in microseconds.
// A missing or unreadable value counts as 0: an idle key.
const prelude = `
redis.replicate_commands()
local key = KEYS[1]
local clock = redis.call("TIME")
local now = (tonumber(clock[1]) - 1483228800) * 1000000 + tonumber(clock[2])
local stored = redis.call("GET", key)
local tat = 0
if stored then
  local secs = tonumber(stored)
  if secs then
    -- redis_rate's own writes carry float noise: round to the microsecond.
    tat = math.floor(secs * 1000000 + 0.5)
  end
end
local function encode(us)
  return string.format("%d.%06d", math.floor(us / 1000000), us % 1000000)
end
local function store(us)
  local s = encode(us)
  redis.call("SET", key, s, "EX", string.format("%d", math.ceil((us - now) / 1000000)))
  return s
end
local function remaining(tau, T, ahead)
  return math.max(0, math.floor((tau - ahead) / T))
end
`

// reserveScript takes a slot for n tokens when it comes within maxWait.
// ARGV: T, tau, n, maxWait, floor: the latest slot this handle holds (0 for
// none), below which tat is never taken, so that a Redis that lost the key
// does not hand out a queued waiter's slot again. Returns {1, wait, remaining, resetAfter, tat}
// when granted, where tat is the exact string stored (for cancel), or
// {0, retryAfter, remaining, resetAfter} when refused.
var reserveScript = goredis.NewScript(prelude + `
local T, tau = tonumber(ARGV[1]), tonumber(ARGV[2])
local n, maxwait = tonumber(ARGV[3]), tonumber(ARGV[4])
local floor = tonumber(ARGV[5]) or 0
local base = math.max(tat, now, floor)
local new = base + n * T
local wait = math.max(0, new - now - tau)
if wait <= maxwait then
  local s = store(new)
  return {1, wait, remaining(tau, T, new - now), new - now, s}
end
return {0, new - now - tau, remaining(tau, T, base - now), base - now}
`)

// cancelScript gives a reservation's tokens back when the key still holds
// the exact tat that reservation stored: any later write (a reservation, an
// AllowN, a Hold that moved tat) makes it a no-op. ARGV: tat string, n*T.
// Returns 1 when the tokens were given back.
var cancelScript = goredis.NewScript(prelude + `
if stored ~= ARGV[1] then
  return 0
end
local back = tat - tonumber(ARGV[2])
if back > now then
  store(back)
else
  redis.call("DEL", key)
end
return 1
`)

// holdScript stops the key for d, then lets it resume at the steady rate:
// tat = max(tat + 1 µs, now + d + tau - T). The tat always moves, so that a
// reservation granted before the Hold can no longer be cancelled below it
// (gcra.Hold). ARGV: T, tau, d.
var holdScript = goredis.NewScript(prelude + `
local T, tau, d = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = math.max(tat + 1, now + d + tau - T)
if held > now then
  store(held)
end
return 1
`)

// statusScript reports the key without changing it. ARGV: T, tau. Returns
// {remaining, nextAfter, fullAfter}.
var statusScript = goredis.NewScript(prelude + `
local T, tau = tonumber(ARGV[1]), tonumber(ARGV[2])
local base = math.max(tat, now)
return {remaining(tau, T, base - now), math.max(0, base + T - now - tau), base - now}
`)

// resetScript forgets the key.
var resetScript = goredis.NewScript(`return redis.call("DEL", KEYS[1])`)

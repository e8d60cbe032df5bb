package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts below keep redis_rate's encoding: the key holds tat as float
// seconds since 2017-01-01 00:00:00 UTC on Redis's clock (TIME), with an
// expiry of ceil(tat - now) seconds. They compute in integer microseconds
// (exact in a Lua double up to 2^53) with the formulas of internal/gcra.
//
// Every write of these scripts stores
//
//	<seconds>.<6 digits>0<epoch: 9 digits><token: 16 digits>
//
// a number that redis_rate reads with tonumber (the digits after the
// microseconds add less than 0.1 µs: raw redis_rate callers share the
// budget) and that the prelude reads back to the exact microsecond. The
// token is random for every write, so that a cancel compares a value only
// its own write produced (no ABA after a Reset or a lost key). The epoch is
// set by Reset (random, never 000000000) and kept by every later write of
// these scripts; values without one (redis_rate's, the previous release's)
// have epoch 000000000. Floors (floor.go) are moot once the key shows
// another epoch than theirs (see reserveScript).
//
// Arguments are integer microseconds: T the emission interval, tau =
// Burst*T.

// prelude reads Redis's clock and the stored tat, both in microseconds,
// and the stored epoch. A missing or unreadable value counts as 0: an idle
// key.
const prelude = `
redis.replicate_commands()
local key = KEYS[1]
local clock = redis.call("TIME")
local now = (tonumber(clock[1]) - 1483228800) * 1000000 + tonumber(clock[2])
local stored = redis.call("GET", key)
local tat = 0
local epoch = "000000000"
if stored then
  local s, u, e = string.match(stored, "^(%d+)%.(%d%d%d%d%d%d)0(%d%d%d%d%d%d%d%d%d)%d+$")
  if s then
    tat = tonumber(s) * 1000000 + tonumber(u)
    epoch = e
  else
    local secs = tonumber(stored)
    if secs then
      -- redis_rate's own writes carry float noise: round to the microsecond.
      tat = math.floor(secs * 1000000 + 0.5)
    end
  end
end
local function encode(us, token)
  return string.format("%d.%06d0%s%s", math.floor(us / 1000000), us % 1000000, epoch, token)
end
local function store(us, token)
  local s = encode(us, token)
  redis.call("SET", key, s, "EX", string.format("%d", math.max(1, math.ceil((us - now) / 1000000))))
  return s
end
local function remaining(tau, T, ahead)
  return math.max(0, math.floor((tau - ahead) / T))
end
`

// reserveScript takes a slot for n tokens when it comes within maxWait.
// ARGV: T, tau, n, maxWait, floor, floor epoch, token. floor is the latest
// slot this handle holds (0 for none), below which tat is never taken, so
// that a Redis that lost the key does not hand out a queued waiter's slot
// again; a key that shows another epoch than the floor's was Reset since,
// and the floor is moot. A key without an epoch (written on a lost key, by
// redis_rate or by the previous release) keeps floors: a floor wrongly kept
// only delays this handle, one wrongly dropped over-admits. A write on a
// missing key stores no epoch, so that the floors of every handle still
// apply, whatever epoch they were taken under (taking the writer's floor
// epoch dropped the floors of handles that queued under a later Reset, when
// a handle with older slots wrote first). Returns
// {1, wait, remaining, resetAfter, had, stored, replaced} when granted,
// where stored is the exact string written and replaced the value it
// replaced (had 1) or "" for none (had 0), both for cancel; or
// {0, retryAfter, remaining, resetAfter} when refused.
var reserveScript = goredis.NewScript(prelude + `
local T, tau = tonumber(ARGV[1]), tonumber(ARGV[2])
local n, maxwait = tonumber(ARGV[3]), tonumber(ARGV[4])
local floor = tonumber(ARGV[5]) or 0
if stored and epoch ~= "000000000" and epoch ~= ARGV[6] then
  floor = 0
end
local base = math.max(tat, now, floor)
local new = base + n * T
local wait = math.max(0, new - now - tau)
if wait <= maxwait then
  local s = store(new, ARGV[7])
  local had = 0
  if stored then
    had = 1
  end
  return {1, wait, remaining(tau, T, new - now), new - now, had, s, stored or ""}
end
return {0, new - now - tau, remaining(tau, T, base - now), base - now}
`)

// cancelScript gives a reservation back when the key still holds the exact
// value that reservation stored (its token: any later write, a Reset
// included, makes it a no-op), and writes back the exact value it replaced
// (keeping the key's expiry, which is at least that value's), or deletes
// the key when there was none, so that cancels run newest first chain.
// ARGV: stored, replaced, had. Returns 1 when the tokens were given back.
var cancelScript = goredis.NewScript(`
local key = KEYS[1]
if redis.call("GET", key) ~= ARGV[1] then
  return 0
end
if ARGV[3] == "1" then
  redis.call("SET", key, ARGV[2], "KEEPTTL")
else
  redis.call("DEL", key)
end
return 1
`)

// holdScript stops the key for d, then lets it resume at the steady rate:
// tat = max(tat + 1 µs, now + d + tau - T). The tat always moves, so that a
// reservation granted before the Hold can no longer be cancelled below it
// (gcra.Hold). ARGV: T, tau, d, token.
var holdScript = goredis.NewScript(prelude + `
local T, tau, d = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = math.max(tat + 1, now + d + tau - T)
if held > now then
  store(held, ARGV[4])
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

// resetScript empties the bucket without deleting the key: it stores tat =
// now - 1 µs under a new epoch, so that every handle's floor taken before is moot
// (a missing key would look like lost data, and floors would apply), with
// an expiry that outlasts the slots queued before (they keep their times).
// ARGV: epoch, token.
var resetScript = goredis.NewScript(prelude + `
local horizon = math.max(tat, now)
epoch = ARGV[1]
-- now - 1 µs: the digits after the microseconds put a value a little
-- after its microsecond, and redis_rate must find the bucket full now.
local s = encode(now - 1, ARGV[2])
redis.call("SET", key, s, "EX", string.format("%d", math.max(1, math.ceil((horizon - now) / 1000000))))
return 1
`)

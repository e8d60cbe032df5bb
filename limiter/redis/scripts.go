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

// luaClock reads Redis's clock as now, in microseconds since 2017-01-01.
const luaClock = `
redis.replicate_commands()
local clock = redis.call("TIME")
local now = (tonumber(clock[1]) - 1483228800) * 1000000 + tonumber(clock[2])
`

// luaValues reads and writes the stored values of every script: parse
// returns a value's tat in microseconds and its epoch (a missing or
// unreadable value counts as 0, an idle key; redis_rate's values and the
// previous release's carry no epoch), encode writes one, expiry is the EX
// of a value of tat us, and remaining is the tokens left when the key is
// ahead of now by ahead.
const luaValues = `
local function parse(stored)
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
  return tat, epoch
end
local function encodeValue(us, epoch, token)
  return string.format("%d.%06d0%s%s", math.floor(us / 1000000), us % 1000000, epoch, token)
end
local function expiry(us)
  return math.max(1, math.ceil((us - now) / 1000000))
end
local function remaining(tau, T, ahead)
  return math.max(0, math.floor((tau - ahead) / T))
end
`

// prelude reads Redis's clock and the tat and epoch stored at KEYS[1], the
// one key of the script; encode and store write under the key's epoch.
const prelude = luaClock + luaValues + `
local key = KEYS[1]
local stored = redis.call("GET", key)
local tat, epoch = parse(stored)
local function encode(us, token)
  return encodeValue(us, epoch, token)
end
local function store(us, token)
  local s = encode(us, token)
  redis.call("SET", key, s, "EX", expiry(us))
  return s
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
// tat = max(tat + 1 µs, now + d + tau - T), an idle tat counting as none
// (gcra.Hold). A tat ahead of now always moves, so that a
// reservation granted before the Hold can no longer be cancelled below it
// (gcra.Hold). ARGV: T, tau, d, token.
var holdScript = goredis.NewScript(prelude + `
local T, tau, d = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = now + d + tau - T
if tat > now then held = math.max(held, tat + 1) end -- idle: as good as none, as an expired key
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

// compositeScript decides a request of several needs, one per key of
// KEYS, all or nothing, with the formulas of gcra.Take: each key allows a
// send at s_i = max(now, base_i + n_i*T_i - tau_i), where base_i =
// max(tat_i, now, floor_i) applies the key's floor as reserveScript does;
// the request's slot is s = max_i s_i, its binding need the first whose s_i
// is s. Granted when s - now <= maxWait: every key stores tat_i =
// max(base_i, s) + n_i*T_i under its own epoch, with its own token and
// expiry; refused, nothing is stored.
//
// ARGV: maxWait for a Reserve, or "a" for an Allow (maxWait 0, nothing to
// cancel), then five per key in KEYS' order: T, tau, n, token, and the
// key's floor as "<floor>:<floor epoch>", or "0" for none. Returns {ok,
// wait (granted) or retryAfter (refused), binding (from 0)}, then per key
// {remaining, resetAfter} and, for a granted Reserve, {had, stored,
// replaced} (as reserveScript's).
var compositeScript = goredis.NewScript(luaClock + luaValues + `
local undo = ARGV[1] ~= "a"
local maxwait = tonumber(ARGV[1]) or 0
local stored, Ts, taus, ns, epochs, base = {}, {}, {}, {}, {}, {}
local s, binding = now, 1
for i = 1, #KEYS do
  local a = 5 * i - 4
  local T, tau, n = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  -- GET, not MGET: a key of another type fails with WRONGTYPE, where
  -- MGET would read nil and SET overwrite another program's value.
  local v = redis.call("GET", KEYS[i])
  local tat, epoch = parse(v)
  local floor = 0
  if ARGV[a + 5] ~= "0" then
    local f, fe = string.match(ARGV[a + 5], "^(%d+):(%d+)$")
    floor = tonumber(f) or 0
    if v and epoch ~= "000000000" and epoch ~= fe then
      floor = 0
    end
  end
  local b = math.max(tat, now, floor)
  local si = b + n * T - tau
  if si > s then
    s, binding = si, i
  end
  stored[i], Ts[i], taus[i], ns[i], epochs[i], base[i] = v, T, tau, n, epoch, b
end
local wait = s - now
local out = {0, wait, binding - 1}
if wait > maxwait then
  for i = 1, #KEYS do
    out[#out + 1] = remaining(taus[i], Ts[i], base[i] - now)
    out[#out + 1] = base[i] - now
  end
  return out
end
out[1] = 1
for i = 1, #KEYS do
  local T, tau = Ts[i], taus[i]
  local new = math.max(base[i], s) + ns[i] * T
  local v = encodeValue(new, epochs[i], ARGV[5 * i])
  redis.call("SET", KEYS[i], v, "EX", expiry(new))
  out[#out + 1] = remaining(tau, T, new - now)
  out[#out + 1] = new - now
  if undo then
    local had = 0
    if stored[i] then
      had = 1
    end
    out[#out + 1] = had
    out[#out + 1] = v
    out[#out + 1] = stored[i] or ""
  end
end
return out
`)

// compositeCancelScript gives a reservation of several keys back: on each
// key of KEYS that still holds the exact value the reservation stored, it
// writes back the exact value that one replaced (keeping the key's expiry)
// or deletes the key when there was none, as cancelScript does on one key;
// every other key is left alone. ARGV: three per key, stored, replaced,
// had. Returns one flag per key: 1 where the tokens were given back.
var compositeCancelScript = goredis.NewScript(`
local out = {}
for i = 1, #KEYS do
  local a = 3 * (i - 1)
  if redis.call("GET", KEYS[i]) == ARGV[a + 1] then
    if ARGV[a + 3] == "1" then
      redis.call("SET", KEYS[i], ARGV[a + 2], "KEEPTTL")
    else
      redis.call("DEL", KEYS[i])
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

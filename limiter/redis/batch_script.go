package redis

import goredis "github.com/redis/go-redis/v9"

// batchScript decides a batch of requests in one call: Redis's clock read
// once, each key read once (GET, so that a key of another type is that
// key's error, not the batch's), every request decided in order with the
// formulas of the single scripts, as if it were alone, and each key
// written once (SET with the expiry its last write would have set alone:
// a Reset's horizon, the tat of any other write, the key's own (KEEPTTL)
// where only cancels changed it; or DEL where a cancel left no value), so
// that a batch leaves every key as the requests one at a time would have,
// expiry included. Values keep
// the encoding of scripts.go, so redis_rate callers share every budget.
//
// ARGV[1] is the batch's token base: 12 digits, to which each request adds
// its index (4 digits) to make the 16-digit token of its writes. ARGV[2]
// is the batch, a JSON array of non-negative integers:
//
//	nkeys nlimits nrequests
//	per key of KEYS: floor floorEpoch np {slot}...
//	                                     floor: the handle's floor but
//	                                     for the np slots of the batch's
//	                                     cancels on the key, which count
//	                                     in the floor until their cancel
//	                                     succeeds (0 0 0: none; see
//	                                     reserveScript)
//	per limit: T tau
//	per request, one of:
//	  1 nneeds {key limit n}...          Allow
//	  2 maxWait nneeds {key limit n}...  Reserve
//	  3 key limit d                      Hold
//	  4 key limit                        Status
//	  5 key epoch                        Reset
//	  6 nkeys {key had value}...         Cancel: ARGV[value] is the value
//	                                     the reservation stored,
//	                                     ARGV[value+1] the one it replaced
//
// where key and limit are 1-based indexes into KEYS and the limits. The
// reply is one flat array, the answers in the requests' order (Redis
// converts a Lua array in C; formatting its numbers into one string in Lua
// cost more than the decisions), without what the client computes from a
// key's resetAfter (remaining, nextAfter, a lone need's wait):
//
//	"E" key              the key (0-based) holds another type
//	Allow, Reserve of one need: r, where r >= 1 is the granted request's
//	  resetAfter and r <= -1 the refused one's, as -resetAfter - 1; then,
//	  for a granted Reserve: had stored replaced (as reserveScript's)
//	Allow, Reserve of several needs: ok wait binding (0-based), each
//	  need's resetAfter, then, for a granted Reserve, each need's had
//	  stored replaced
//	Hold, Reset: 1
//	Status: fullAfter
//	Cancel: one flag per key, 1 where it was given back
var batchScript = goredis.NewScript(luaClock + luaValues + `
-- A JSON array: cjson reads it about three times faster than a loop of
-- string.gmatch.
local v = cjson.decode(ARGV[2])
local nv = #v
local nkeys, nlim, nreq = v[1], v[2], v[3]
local p = 4
local cur, tat, epoch, floor, fepoch, dirty, exp, bad = {}, {}, {}, {}, {}, {}, {}, {}
local pend = {} -- by key: the slots of cancels still in the floor
local lazy, tok = {}, {} -- a write not yet encoded, and its request
local none = {}
for k = 1, nkeys do
  local r = redis.pcall("GET", KEYS[k])
  if type(r) == "table" and r.err then
    bad[k] = true
    r = false
  end
  cur[k] = r
  local t, e = parse(r)
  tat[k], epoch[k] = t, e
  floor[k], fepoch[k] = v[p], v[p + 1]
  local np = v[p + 2]
  local pk = none
  if np > 0 then
    pk = {}
    for j = 1, np do
      pk[j] = v[p + 2 + j]
    end
  end
  pend[k] = pk
  exp[k] = false
  p = p + 3 + np
end
local base = ARGV[1]
local LT, Ltau = {}, {}
for l = 1, nlim do
  LT[l], Ltau[l] = v[p], v[p + 1]
  p = p + 2
end
local out, no = {}, 0
local function put(x)
  no = no + 1
  out[no] = x
end
-- floorOf is the key's floor, moot once the key shows another epoch: a
-- cancel's slot counts until the cancel succeeds (as one at a time, where
-- the caller lowers the floor after each cancel).
local function floorOf(k)
  local f = floor[k]
  for _, x in ipairs(pend[k]) do
    if x > f then
      f = x
    end
  end
  if f ~= 0 and cur[k] and epoch[k] ~= "000000000" and tonumber(epoch[k]) ~= fepoch[k] then
    return 0
  end
  return f
end
-- write stores tat us for request r on key k; value encodes it (with the
-- request's token) when a string is needed: a reply, a cancel's compare,
-- the final SET. A key written by many requests is encoded once.
local function write(k, us, r)
  tat[k], tok[k], lazy[k], dirty[k], exp[k] = us, r, true, true, us
  cur[k] = true
end
local function value(k)
  if lazy[k] then
    local us = tat[k]
    cur[k] = string.format("%d.%06d0%s%s%04d", math.floor(us / 1000000), us % 1000000, epoch[k], base, tok[k])
    lazy[k] = false
  end
  return cur[k]
end
local ks, ls, ns, bs = {}, {}, {}, {}
local req = 0
while p <= nv do
  req = req + 1
  local op = v[p]
  if op == 1 or op == 2 then
    local maxwait = 0
    if op == 2 then
      maxwait = v[p + 1]
      p = p + 1
    end
    local nn = v[p + 1]
    p = p + 2
    if nn == 1 then
      -- One need, the common case, without the tables of several.
      local k, l, n = v[p], v[p + 1], v[p + 2]
      p = p + 3
      if bad[k] then
        put("E")
        put(k - 1)
      else
        local b = tat[k]
        if b < now then
          b = now
        end
        if floor[k] ~= 0 or #pend[k] > 0 then
          local f = floorOf(k)
          if f > b then
            b = f
          end
        end
        local new = b + n * LT[l]
        local wait = new - now - Ltau[l]
        if wait < 0 then
          wait = 0
        end
        if wait > maxwait then
          put(now - b - 1)
        elseif op == 2 then
          local prev = value(k)
          write(k, new, req)
          put(new - now)
          if prev then
            put(1)
          else
            put(0)
          end
          put(value(k))
          put(prev or "")
        else
          write(k, new, req)
          put(new - now)
        end
      end
    else
    local s, binding, badk = now, 1, nil
    for j = 1, nn do
      local k, l, n = v[p], v[p + 1], v[p + 2]
      p = p + 3
      if bad[k] and not badk then
        badk = k
      end
      local b = math.max(tat[k], now, floorOf(k))
      local si = b + n * LT[l] - Ltau[l]
      if si > s then
        s, binding = si, j
      end
      ks[j], ls[j], ns[j], bs[j] = k, l, n, b
    end
    if badk then
      put("E")
      put(badk - 1)
    else
      local wait = s - now
      if wait > maxwait then
        put(0)
        put(wait)
        put(binding - 1)
        for j = 1, nn do
          put(bs[j] - now)
        end
      else
        put(1)
        put(wait)
        put(binding - 1)
        local undo, nu = {}, 0
        for j = 1, nn do
          local k = ks[j]
          local new = math.max(bs[j], s) + ns[j] * LT[ls[j]]
          -- An Allow needs no strings: its write is encoded once, later.
          local prev = op == 2 and value(k)
          write(k, new, req)
          put(new - now)
          if op == 2 then
            local had = 0
            if prev then
              had = 1
            end
            undo[nu + 1], undo[nu + 2], undo[nu + 3], nu = had, value(k), prev or "", nu + 3
          end
        end
        for j = 1, nu do
          put(undo[j])
        end
      end
    end
    end
  elseif op == 3 then
    local k, l, d = v[p + 1], v[p + 2], v[p + 3]
    p = p + 4
    if bad[k] then
      put("E")
      put(k - 1)
    else
      local held = now + d + Ltau[l] - LT[l]
      if tat[k] > now then held = math.max(held, tat[k] + 1) end -- idle: as good as none (gcra.Hold)
      if held > now then
        write(k, held, req)
      end
      put(1)
    end
  elseif op == 4 then
    local k, l = v[p + 1], v[p + 2]
    p = p + 3
    if bad[k] then
      put("E")
      put(k - 1)
    else
      put(math.max(tat[k], now) - now)
    end
  elseif op == 5 then
    local k, e = v[p + 1], v[p + 2]
    p = p + 3
    if bad[k] then
      put("E")
      put(k - 1)
    else
      -- as resetScript: tat now - 1 µs under a new epoch, kept until the
      -- slots queued before have passed.
      local horizon = math.max(tat[k], now)
      epoch[k] = string.format("%09d", e)
      write(k, now - 1, req)
      exp[k] = horizon
      put(1)
    end
  elseif op == 6 then
    local nk = v[p + 1]
    p = p + 2
    local badk = nil
    for j = 1, nk do
      local k = v[p + 3 * (j - 1)]
      if bad[k] and not badk then
        badk = k
      end
    end
    if badk then
      put("E")
      put(badk - 1)
    else
      for j = 1, nk do
        local q = p + 3 * (j - 1)
        local k, had, a = v[q], v[q + 1], v[q + 2]
        if value(k) == ARGV[a] then
          local mine = parse(ARGV[a])
          local pk = pend[k]
          for j = 1, #pk do
            if pk[j] == mine then
              table.remove(pk, j)
              break
            end
          end
          if had == 1 then
            cur[k] = ARGV[a + 1]
          else
            cur[k] = false
          end
          tat[k], epoch[k] = parse(cur[k])
          dirty[k] = true
          put(1)
        else
          put(0)
        end
      end
    end
    -- Past its keys, given back or not (a key of another type too).
    p = p + 3 * nk
  else
    return redis.error_reply("batch: unknown operation " .. tostring(op))
  end
end
-- Nothing is written yet: a batch read otherwise than it was packed
-- (a bug) changes no key.
if req ~= nreq or p ~= nv + 1 then
  return redis.error_reply("batch: read " .. req .. " of " .. tostring(nreq) .. " requests, " .. (p - 1) .. " of " .. nv .. " numbers")
end
for k = 1, nkeys do
  if dirty[k] then
    local s = value(k)
    if s then
      if exp[k] then
        redis.call("SET", KEYS[k], s, "EX", expiry(exp[k]))
      else
        -- Only cancels changed it: the value the reservation replaced
        -- keeps the key's expiry, as cancelScript's KEEPTTL.
        redis.call("SET", KEYS[k], s, "KEEPTTL")
      end
    else
      redis.call("DEL", KEYS[k])
    end
  end
end
return out
`)

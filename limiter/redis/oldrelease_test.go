package redis_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/internal/slotbook"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// The previous release's (5a4cc38) prelude, reserve and cancel scripts,
// copied as they were, so that a test can act as one of its workers on
// the same keys (see TestMixedWritersNoSlotTwice).
const oldPrelude = `
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

var oldReserve = goredis.NewScript(oldPrelude + `
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

var oldCancel = goredis.NewScript(oldPrelude + `
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

// TestMixedWritersNoSlotTwice: on one key, two handles of this release, a
// raw redis_rate caller and a worker of the previous release (its own
// scripts) take slots at random; the handles and the old worker cancel
// queued reservations in any order; this release Holds and Resets; the
// clock moves. No slot granted since the last Reset comes within one
// interval (Burst 1) of another that was not given back, and no cancel of
// a reservation from before a Hold or a Reset gives anything back. The old
// worker does not cancel reservations from before a Reset (its cancels
// compare values: the ABA README's "Rolling deploys" names).
func TestMixedWritersNoSlotTwice(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		m := startMini(t)
		mixedWriters(t, m.Addr(), m.Advance, 0)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Config{})
		mixedWriters(t, srv.Addr(), nil, 10*time.Millisecond)
	})
}

func mixedWriters(t *testing.T, addr string, advance func(time.Duration), tol time.Duration) {
	ctx := context.Background()
	const prefix = "mix:"
	k := "k"
	T := 10 * time.Second
	if advance == nil {
		T = time.Second
	}
	lim := limiter.Limit{Rate: 1, Period: T, Burst: 1}
	Tus := T.Microseconds()
	news := []*redis.Limiter{open(t, addr, redis.WithPrefix(prefix)), open(t, addr, redis.WithPrefix(prefix))}
	probe := open(t, addr, redis.WithPrefix(prefix))
	for _, l := range append(news, probe) {
		defer l.Close()
	}
	oldc := client(t, addr)
	raw := redis_rate.NewLimiter(client(t, addr))
	rkey := redis.Key(prefix, k)
	start := time.Now()
	var elapsed time.Duration
	now := func() time.Duration {
		if advance == nil {
			return time.Since(start)
		}
		return elapsed
	}
	book := &slotbook.Book{T: t, Interval: T, Tol: tol, Now: now, FullAfter: slotbook.FullAfter(t, probe, k, lim)}
	rng := rand.New(rand.NewPCG(12, 1))
	steps := 400
	if advance == nil {
		steps = 150
	}
	for step := range steps {
		switch op := rng.IntN(100); {
		case op < 30:
			t0 := now()
			r, err := news[rng.IntN(len(news))].ReserveN(ctx, k, lim, 1, 100*T)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK {
				book.Add(&slotbook.Slot{R: r, Lo: t0 + r.Delay, At: now() + r.Delay, Queued: r.Delay > 0}, "ReserveN", step)
			}
		case op < 45:
			t0 := now()
			v, err := oldReserve.Run(ctx, oldc, []string{rkey}, Tus, Tus, 1, 100*Tus, 0).Slice()
			if err != nil {
				t.Fatal(err)
			}
			if v[0].(int64) == 1 {
				wait := time.Duration(v[1].(int64)) * time.Microsecond
				stored := v[4].(string)
				undo := func() error { return oldCancel.Run(ctx, oldc, []string{rkey}, stored, Tus).Err() }
				book.Add(&slotbook.Slot{Undo: undo, Lo: t0 + wait, At: now() + wait, Queued: wait > 0}, "old ReserveN", step)
			}
		case op < 55:
			t0 := now()
			res, err := raw.AllowN(ctx, redis.RateKey(prefix, k), redis_rate.Limit{Rate: 1, Period: T, Burst: 1}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed > 0 {
				book.Add(&slotbook.Slot{Lo: t0, At: now()}, "redis_rate AllowN", step)
			}
		case op < 88:
			book.CancelOne(ctx, rng, step)
		case op < 92:
			book.Hold(ctx, step, news[rng.IntN(len(news))], k, lim, time.Duration(rng.IntN(3))*T)
		case op < 95:
			book.Reset(ctx, step, news[rng.IntN(len(news))], k)
		default:
			if advance != nil {
				d := time.Duration(rng.Int64N(Tus/2)) * time.Microsecond
				advance(d)
				elapsed += d
			}
		}
	}
	t.Logf("%d slots standing at the end", book.Len())
}

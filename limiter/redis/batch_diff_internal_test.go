package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// diffKeys are the keys of the differential tests: three alone, two
// sharing a hash tag (the needs of composites).
var diffKeys = []string{"k0", "k1", "k2", "{t}:a", "{t}:b"}

// diffLimits are (T, tau) pairs in µs.
var diffLimits = [][2]int64{{100_000, 300_000}, {250_000, 500_000}, {40_000, 40_000}}

// diffGrant is a reservation granted to both stores, with each one's undo.
type diffGrant struct {
	undo      [2]any
	cancelled bool
}

// diffWorld drives two stores on one Redis with the same requests: a,
// whose batches go through DoBatch (batchScript), and b, whose requests go
// one at a time through Do (the single scripts and redis_rate).
type diffWorld struct {
	t      *testing.T
	rng    *rand.Rand
	limits [][2]int64 // (T, tau) in µs: diffLimits by default
	// slow picks waits and holds away from the limits' boundaries (in
	// halves of T), for a real Redis whose clock moves between the
	// two sides; tol is the difference of durations allowed.
	slow   bool
	tol    int64
	st     [2]*store
	grants []*diffGrant
	last   string // the last round's requests, for failures
	// rated are the keys whose epoch redis_rate dropped one at a time
	// (since their last Reset or loss).
	rated map[string]bool
}

// frozenMini is a client of a new miniredis whose clock stands at now,
// 2025-06-01 12:00 UTC; both close when t ends.
func frozenMini(t *testing.T) (m *miniredis.Miniredis, c *goredis.Client, now time.Time) {
	m = miniredis.RunT(t)
	now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m.SetTime(now)
	c = goredis.NewClient(&goredis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return m, c, now
}

// realClient is a client (ContextTimeoutEnabled) of a new real Redis;
// both close when t ends.
func realClient(t *testing.T) *goredis.Client {
	srv := redistest.Start(t, redistest.Config{})
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func newStore(c goredis.UniversalClient, prefix string) *store {
	s := &store{client: c, rate: redis_rate.NewLimiter(c), prefix: prefix, timeout: 5 * time.Second}
	s.cluster, _ = c.(*goredis.ClusterClient)
	if s.ring, _ = c.(*goredis.Ring); s.ring != nil {
		s.ringShards = len(s.ring.Options().Addrs)
	}
	return s
}

// request returns a random request (and, for a Cancel, the grant it
// cancels).
func (w *diffWorld) request() (driver.Request, *diffGrant) {
	rng := w.rng
	limits := w.limits
	if limits == nil {
		limits = diffLimits
	}
	lim := limits[rng.IntN(len(limits))]
	maxWait, hold := rng.Int64N(1_500_000), rng.Int64N(400_000)
	if w.slow {
		// Every T a multiple of 60 s: tats and waits fall on a grid of
		// 30 s (± the clock's moves); a maxWait 10 s off it.
		maxWait, hold = 40_000_000+rng.Int64N(8)*60_000_000, 30_000_000+rng.Int64N(6)*30_000_000
	}
	need := func(key string) driver.Need {
		lim := lim
		if w.slow {
			// One limit per key: mixed limits leave tats a µs off the
			// grid (a Hold's tat + 1) where another limit's boundary is.
			i := 0
			for j, k := range diffKeys {
				if k == key {
					i = j
				}
			}
			lim = limits[i%len(limits)]
		}
		burst := lim[1] / lim[0]
		return driver.Need{Key: key, T: lim[0], Tau: lim[1], N: 1 + rng.Int64N(burst)}
	}
	needs := func() []driver.Need {
		if rng.IntN(3) == 0 {
			return []driver.Need{need("{t}:a"), need("{t}:b")}
		}
		if rng.IntN(4) == 0 {
			return []driver.Need{need("{t}:b"), need("{t}:a")}
		}
		return []driver.Need{need(diffKeys[rng.IntN(len(diffKeys))])}
	}
	switch op := rng.IntN(20); {
	case op < 5:
		return driver.Request{Op: driver.Allow, Needs: needs()}, nil
	case op < 11:
		return driver.Request{Op: driver.Reserve, Needs: needs(), MaxWait: maxWait}, nil
	case op < 12:
		return driver.Request{Op: driver.Hold, Needs: []driver.Need{need(diffKeys[rng.IntN(len(diffKeys))])}, Hold: hold}, nil
	case op < 14:
		return driver.Request{Op: driver.Status, Needs: []driver.Need{need(diffKeys[rng.IntN(len(diffKeys))])}}, nil
	case op < 15:
		return driver.Request{Op: driver.Reset, Needs: []driver.Need{{Key: diffKeys[rng.IntN(len(diffKeys))]}}}, nil
	default:
		var open []*diffGrant
		for _, g := range w.grants {
			if !g.cancelled {
				open = append(open, g)
			}
		}
		if len(open) == 0 {
			return driver.Request{Op: driver.Status, Needs: []driver.Need{need("k0")}}, nil
		}
		// Mostly the newest (as Close does), sometimes any.
		g := open[len(open)-1]
		if rng.IntN(3) == 0 {
			g = open[rng.IntN(len(open))]
		}
		g.cancelled = true
		return driver.Request{Op: driver.Cancel}, g
	}
}

// round sends one batch of n random requests to both stores and compares
// every answer.
func (w *diffWorld) round(ctx context.Context, n int, what string) {
	t := w.t
	reqs := make([]driver.Request, n)
	cancels := make([]*diffGrant, n)
	for i := range reqs {
		reqs[i], cancels[i] = w.request()
	}
	for i, g := range cancels {
		if g != nil {
			reqs[i].Undo = g.undo[0] // for describe; each side sets its own
		}
	}
	w.last = describeAll(reqs)
	for _, r := range reqs {
		switch {
		case r.Op == driver.Reset:
			delete(w.rated, r.Needs[0].Key)
		case r.Op == driver.Allow && len(r.Needs) == 1:
			w.rated[r.Needs[0].Key] = true // redis_rate's, without a floor
		}
	}
	var ans [2][]driver.Answer
	for side := range 2 {
		batch := make([]driver.Request, n)
		copy(batch, reqs)
		for i, g := range cancels {
			if g != nil {
				batch[i].Undo = g.undo[side]
			}
		}
		ans[side] = make([]driver.Answer, n)
		var err error
		if side == 0 {
			err = w.st[0].DoBatch(ctx, batch, ans[0])
		} else {
			err = w.st[1].Do(ctx, batch, ans[1])
		}
		if err != nil {
			t.Fatalf("%s: side %d: %v", what, side, err)
		}
	}
	for i := range reqs {
		a, b := ans[0][i], ans[1][i]
		if d := diffAnswer(a, b, max(1, w.tol)); d != "" {
			t.Fatalf("%s: request %d of %d (%s): batch and one-at-a-time differ: %s\nrequests: %s\nbatch:  %+v\nsingle: %+v",
				what, i, n, describe(reqs[i]), d, describeAll(reqs), a, b)
		}
		if reqs[i].Op == driver.Reserve && a.OK {
			w.grants = append(w.grants, &diffGrant{undo: [2]any{a.Undo, b.Undo}})
		}
	}
}

// diffAnswer says how a (batch) and b (one at a time) differ: durations
// within tol µs (1 for redis_rate's float seconds), the rest exactly.
func diffAnswer(a, b driver.Answer, tol int64) string {
	near := func(x, y int64) bool { return x-y <= tol && y-x <= tol }
	switch {
	case (a.Err == nil) != (b.Err == nil):
		return fmt.Sprintf("errors %v / %v", a.Err, b.Err)
	case a.OK != b.OK:
		return fmt.Sprintf("OK %v / %v", a.OK, b.OK)
	case !near(a.Wait, b.Wait) || !near(a.RetryAfter, b.RetryAfter):
		return fmt.Sprintf("wait %d / %d, retryAfter %d / %d", a.Wait, b.Wait, a.RetryAfter, b.RetryAfter)
	case a.Binding != b.Binding && tol == 1:
		// (On a moving clock, keys written a few µs apart one at a
		// time, and at one instant in a batch, break ties otherwise.)
		return fmt.Sprintf("binding %d / %d", a.Binding, b.Binding)
	case !near(a.Order, b.Order):
		return fmt.Sprintf("order %d / %d", a.Order, b.Order)
	case len(a.Needs) != len(b.Needs):
		return fmt.Sprintf("%d / %d need answers", len(a.Needs), len(b.Needs))
	case (a.Undo == nil) != (b.Undo == nil):
		return fmt.Sprintf("undo %v / %v", a.Undo, b.Undo)
	}
	for j := range a.Needs {
		x, y := a.Needs[j], b.Needs[j]
		// (On a moving clock, a tat a µs from a multiple of T, as a
		// Hold's tat + 1 leaves, may count one token more or less.)
		dr := x.Remaining - y.Remaining
		if (dr != 0 && (tol == 1 || dr > 1 || dr < -1)) || !near(x.ResetAfter, y.ResetAfter) || !near(x.NextAfter, y.NextAfter) {
			return fmt.Sprintf("need %d: %+v / %+v", j, x, y)
		}
	}
	return ""
}

func describe(r driver.Request) string {
	var b strings.Builder
	b.WriteString(r.Op.String())
	for _, nd := range r.Needs {
		fmt.Fprintf(&b, " %s(n=%d T=%d tau=%d)", nd.Key, nd.N, nd.T, nd.Tau)
	}
	switch r.Op {
	case driver.Reserve:
		fmt.Fprintf(&b, " maxWait=%d", r.MaxWait)
	case driver.Hold:
		fmt.Fprintf(&b, " d=%d", r.Hold)
	case driver.Cancel:
		for _, k := range r.Undo.([]undoKey) {
			fmt.Fprintf(&b, " %s", k.rkey)
		}
	}
	return b.String()
}

func describeAll(reqs []driver.Request) string {
	var parts []string
	for _, r := range reqs {
		if r.Op == driver.Cancel && r.Undo == nil {
			parts = append(parts, "Cancel")
			continue
		}
		parts = append(parts, describe(r))
	}
	return strings.Join(parts, "; ")
}

// checkKeys compares the two stores' keys on m: the same tat (within 1
// µs), an epoch on both or neither, and an expiry that never ends before
// the tat has passed (a key gone early is a full bucket: over-admission).
func (w *diffWorld) checkKeys(m *miniredis.Miniredis, now time.Time, what string) {
	t := w.t
	for _, k := range diffKeys {
		var tats [2]int64
		var epochs [2]string
		var present [2]bool
		var ttls [2]time.Duration
		nowUS := now.UnixMicro() - redisEpochUS
		rateValue := w.rated[k]
		for side, s := range w.st {
			rkey := s.key(k)
			v, err := m.Get(rkey)
			if err != nil {
				continue // missing
			}
			tat, epoch := parseAny(v)
			present[side] = true
			if _, _, ok := parseValue(v); !ok && side == 1 {
				rateValue = true
				w.rated[k] = true
			}
			tats[side], epochs[side] = max(tat, nowUS), epoch
			ahead := tat - nowUS
			ttls[side] = m.TTL(rkey)
			if ttls[side] <= 0 || ttls[side].Microseconds() < ahead {
				t.Fatalf("%s: key %s (tat %d µs ahead) expires in %s: before its tat", what, rkey, ahead, ttls[side])
			}
		}
		// redis_rate's AllowN (an Allow alone without a floor) stores
		// no epoch, and the scripts keep none after it; batchScript
		// keeps the key's, as every script of this package does: the
		// floors a Reset made moot stay moot.
		sameEpoch := !present[0] || !present[1] || rateValue || (epochs[0] == noEpoch) == (epochs[1] == noEpoch)
		if present[0] != present[1] && !rateValue {
			t.Fatalf("%s: key %s: present after the batch %v, one at a time %v\nlast requests: %s", what, k, present[0], present[1], w.last)
		}
		if present[0] != present[1] {
			// redis_rate's expiry rounds its own way: an idle key
			// either way.
			tats[0], tats[1] = max(tats[0], nowUS), max(tats[1], nowUS)
		}
		if ttls[0] != ttls[1] && !rateValue {
			t.Fatalf("%s: key %s: batch left an expiry of %s, one at a time %s\nlast requests: %s", what, k, ttls[0], ttls[1], w.last)
		}
		if d := tats[0] - tats[1]; d > 1 || d < -1 || !sameEpoch {
			t.Fatalf("%s: key %s: batch left tat %d epoch %s, one at a time tat %d epoch %s\nlast requests: %s", what, k, tats[0], epochs[0], tats[1], epochs[1], w.last)
		}
	}
}

// redisEpochUS is 2017-01-01 00:00:00 UTC in µs since 1970, the origin
// of the stored tats.
const redisEpochUS = 1483228800 * 1_000_000

// parseAny reads a stored value of the scripts or of redis_rate as its
// tat (µs) and epoch.
func parseAny(v string) (int64, string) {
	if tat, epoch, ok := parseValue(v); ok {
		return tat, epoch
	}
	var secs float64
	fmt.Sscan(v, &secs)
	return int64(secs*1e6 + 0.5), noEpoch
}

// TestBatchMatchesOneAtATime: on a miniredis with a frozen clock, random
// batches of every operation (single and composite Allows and Reserves,
// Holds, Statuses, Resets, cancels of earlier grants, newest first or
// any), with the clock moved and keys lost (deleted, to exercise the
// floors) between them, are decided by batchScript exactly as the single
// scripts decide the same requests one at a time on keys of their own;
// and both leave the same tats, epochs and safe expiries.
func TestBatchMatchesOneAtATime(t *testing.T) {
	m, c, now := frozenMini(t)
	ctx := context.Background()
	seeds := uint64(150)
	if raceEnabled {
		seeds = 50
	}
	for seed := range seeds {
		m.FlushAll()
		w := &diffWorld{t: t, rng: rand.New(rand.NewPCG(seed, 17)),
			st: [2]*store{newStore(c, "a:"), newStore(c, "b:")}, rated: map[string]bool{}}
		for r := range 12 {
			w.round(ctx, 1+w.rng.IntN(12), fmt.Sprintf("seed %d round %d", seed, r))
			w.checkKeys(m, now, fmt.Sprintf("seed %d round %d", seed, r))
			d := time.Duration(w.rng.Int64N(300_000)+1) * time.Microsecond
			now = now.Add(d)
			m.SetTime(now)
			m.FastForward(d)
			if w.rng.IntN(4) == 0 {
				// Redis lost a key: both stores' floors must hold.
				k := diffKeys[w.rng.IntN(len(diffKeys))]
				m.Del(w.st[0].key(k))
				m.Del(w.st[1].key(k))
				delete(w.rated, k)
			}
		}
	}
}

// TestBatchMatchesOneAtATimeRealRedis is TestBatchMatchesOneAtATime on a
// real Redis (its Lua, cjson and number formatting), whose clock moves:
// limits of a minute per token, waits and holds half an interval away
// from any boundary, durations within 2 s.
func TestBatchMatchesOneAtATimeRealRedis(t *testing.T) {
	c := realClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const T = 60_000_000
	for seed := range uint64(100) {
		w := &diffWorld{t: t, rng: rand.New(rand.NewPCG(seed, 18)), limits: [][2]int64{{T, 3 * T}, {2 * T, 4 * T}, {T, T}},
			slow: true, tol: 2_000_000, st: [2]*store{newStore(c, fmt.Sprintf("a%d:", seed)), newStore(c, fmt.Sprintf("b%d:", seed))},
			rated: map[string]bool{}}
		for r := range 8 {
			w.round(ctx, 1+w.rng.IntN(24), fmt.Sprintf("seed %d round %d", seed, r))
			if w.rng.IntN(4) == 0 {
				k := diffKeys[w.rng.IntN(len(diffKeys))]
				if err := c.Del(ctx, w.st[0].key(k), w.st[1].key(k)).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

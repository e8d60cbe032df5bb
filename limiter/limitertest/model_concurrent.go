package limitertest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// RunModelConcurrent is RunModel's second property, over concurrent
// histories: in each of a few rounds, three goroutines on three handles run
// random AllowN, ReserveN, Allow and Reserve of one or two keys, Hold, and
// Cancel of their own reservations, all at one instant of the store's
// clock; between rounds the clock moves forward. Afterwards every key's
// admissions (the slots granted, less those cancelled), sorted, fit the
// window bound ceil(Rate*w/Period) + Burst - 1 for windows of one to four
// intervals and one Period: a cancel that restored a key another request
// had touched since would free a slot twice and break it. And after each
// round, directly: no cancel restored a key another request had touched
// since (each key's tat still covers the end of every slot held). It runs
// opts.Checks histories (default 100, or ModelChecksEnv's number); opts'
// other fields are unused. It needs a clock the test moves (Advance);
// without one it skips.
func RunModelConcurrent(t *testing.T, newHarness func(testing.TB) Harness, opts ModelOptions) {
	h := newHarness(t)
	if h.Advance == nil {
		t.Skip("concurrent histories need a clock the test moves: the load tests cover the real clock")
	}
	setChecks(t, opts.Checks, 100)
	hs := []limiter.Limiter{h.Open(t), h.Open(t), h.Open(t)}
	for _, l := range hs {
		t.Cleanup(func() { l.Close() })
	}
	h.Advance(time.Second)
	var clock time.Duration // the store's clock since the start
	rapid.Check(t, func(rt *rapid.T) {
		prefix := fmt.Sprintf("conc%d-", modelRun.Add(1))
		lims := [2]limiter.Limit{modelLimits[rapid.IntRange(0, len(modelLimits)-1).Draw(rt, "limit 0")],
			modelLimits[rapid.IntRange(0, len(modelLimits)-1).Draw(rt, "limit 1")]}
		rounds := rapid.IntRange(1, 6).Draw(rt, "rounds")
		var mu sync.Mutex
		slots := [2][]time.Duration{}
		type plan struct {
			op      int
			keys    []int
			maxWait time.Duration
			hold    time.Duration
		}
		for r := range rounds {
			// Draw every goroutine's plan first: rapid's draws are not
			// for concurrent use.
			plans := make([][]plan, len(hs))
			for g := range hs {
				for range rapid.IntRange(1, 20).Draw(rt, "requests") {
					p := plan{op: rapid.IntRange(0, 6).Draw(rt, "op"),
						keys:    rapid.SliceOfNDistinct(rapid.IntRange(0, 1), 1, 2, rapid.ID[int]).Draw(rt, "keys"),
						maxWait: time.Duration(rapid.IntRange(0, 20000).Draw(rt, "maxWait ms")) * time.Millisecond,
						hold:    time.Duration(rapid.IntRange(0, 2000).Draw(rt, "hold ms")) * time.Millisecond}
					plans[g] = append(plans[g], p)
				}
				rt.Logf("round %d at %s, goroutine %d: %+v", r, clock, g, plans[g])
			}
			now := clock
			var wg sync.WaitGroup
			errs := make(chan error, len(hs))
			for g, l := range hs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- concurrentRound(l, prefix, lims, plans[g], now, &mu, &slots, func(p plan) (int, []int, time.Duration, time.Duration) {
						return p.op, p.keys, p.maxWait, p.hold
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					rt.Fatalf("round %d: %v", r, err)
				}
			}
			// No cancel restored a key another request had touched
			// since: every slot still held keeps its key's tat at or
			// past its end (a grant leaves tat >= slot + T, later
			// writes only raise it, and a cancel that is the key's last
			// write goes back to a value that already did).
			for k, lim := range lims {
				if len(slots[k]) == 0 {
					continue
				}
				st, err := hs[0].Status(context.Background(), prefix+strconv.Itoa(k), lim)
				if err != nil {
					rt.Fatalf("round %d: Status: %v", r, err)
				}
				if want := slices.Max(slots[k]) + lim.Interval() - now; st.FullAfter < want-h.Tolerance {
					rt.Fatalf("round %d: key %d is full in %s, but a slot held ends %s from now: a cancel restored the key under a later request's charge",
						r, k, st.FullAfter, want)
				}
			}
			step := time.Duration(rapid.IntRange(0, 3000).Draw(rt, "step ms")) * time.Millisecond
			h.Advance(step)
			clock += step
		}
		for k, lim := range lims {
			times := slices.Clone(slots[k])
			slices.Sort(times)
			iv := lim.Interval()
			for _, w := range []time.Duration{iv, 2 * iv, 3 * iv, 4 * iv, lim.Period} {
				if n, b := MaxInWindow(times, w), Bound(lim, w); n > b {
					rt.Fatalf("key %d under %s: %d admissions in a window of %s, bound %d; slots %v", k, lim, n, w, b, times)
				}
			}
		}
	})
}

// concurrentRound runs one goroutine's plan at the store's instant now,
// recording each key's granted slots and taking out those it cancels.
func concurrentRound[P any](l limiter.Limiter, prefix string, lims [2]limiter.Limit, plan []P, now time.Duration,
	mu *sync.Mutex, slots *[2][]time.Duration, get func(P) (int, []int, time.Duration, time.Duration)) error {
	ctx := context.Background()
	type held struct {
		r    *limiter.Reservation
		keys []int
		at   time.Time
	}
	var mine []held
	add := func(keys []int, slot time.Duration, sign int) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			if sign > 0 {
				slots[k] = append(slots[k], slot)
			} else if i := slices.Index(slots[k], slot); i >= 0 {
				slots[k] = slices.Delete(slots[k], i, i+1)
			}
		}
	}
	for _, p := range plan {
		op, keys, maxWait, hold := get(p)
		needs := make([]limiter.Need, len(keys))
		for i, k := range keys {
			needs[i] = limiter.Need{Key: prefix + strconv.Itoa(k), Limit: lims[k], N: 1}
		}
		switch op {
		case 0: // Allow
			res, err := l.Allow(ctx, needs...)
			if err != nil {
				return err
			}
			if res.Allowed {
				add(keys, now, 1)
			}
		case 1, 2, 3: // Reserve
			r, err := l.Reserve(ctx, maxWait, needs...)
			if err != nil {
				return err
			}
			if r.OK {
				add(keys, now+r.Delay, 1)
				mine = append(mine, held{r: r, keys: keys, at: time.Now()})
			}
		case 4, 5: // Cancel the newest or oldest of this goroutine's reservations
			if len(mine) == 0 {
				continue
			}
			i := 0
			if hold > time.Second {
				i = len(mine) - 1
			}
			m := mine[i]
			mine = slices.Delete(mine, i, i+1)
			if m.r.Delay == 0 || time.Since(m.at)+2*time.Second >= m.r.Delay {
				continue // its slot has come, or may have on the real clock: kept
			}
			if err := m.r.Cancel(ctx); err != nil {
				return err
			}
			add(m.keys, now+m.r.Delay, -1)
		case 6:
			if err := l.Hold(ctx, needs[0].Key, needs[0].Limit, hold); err != nil {
				return err
			}
		}
	}
	return nil
}

package limiter_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// allPairsExcess returns the largest count-minus-(bound+Burst) over every
// half-open window whose ends are two admission times.
func allPairsExcess(times []time.Duration, lim limiter.Limit) (worst int, a, b time.Duration) {
	s := slices.Clone(times)
	slices.Sort(s)
	worst = -1 << 30
	for i := range s {
		for j := i; j < len(s); j++ {
			w := s[j] - s[i] + 1
			if e := (j - i + 1) - (limitertest.Bound(lim, w) + lim.Burst); e > worst {
				worst, a, b = e, s[i], s[j]
			}
		}
	}
	return worst, a, b
}

// TestFallbackFlappingEveryWindow: random limits (Burst up to 9, shares
// down to 0.1), two keys, flaps of 1-300 ms, calls that fail alone or lose
// their reply after the store decided, AllowN, ReserveN with n up to
// Burst, Holds, and cancels of any queued reservation (not only the
// newest): no half-open window between any two admissions of a key holds
// more than the limit's bound plus one Burst.
func TestFallbackFlappingEveryWindow(t *testing.T) {
	shares := []float64{0.1, 0.25, 0.34, 0.5, 0.75, 1}
	keys := []string{"a", "b"}
	for i := range 60 {
		rng := rand.New(rand.NewPCG(99, uint64(i)))
		lim := limiter.Limit{Rate: 1 + rng.IntN(30), Period: time.Duration(1+rng.IntN(2)) * time.Second, Burst: 1 + rng.IntN(9)}
		share := shares[rng.IntN(len(shares))]
		t.Run("", func(t *testing.T) {
			r := newFlapRig(t, share)
			// Some calls fail alone (the next call to the store, which
			// may be a raise or the probe's), some lose their reply
			// after the store decided (its slot taken, the caller told
			// it failed).
			ctx := context.Background()
			const run = 6 * time.Second
			type pending struct {
				res *limiter.Reservation
				at  time.Duration
				n   int
			}
			times := map[string][]time.Duration{}
			queued := map[string][]pending{}
			flaps := &flapper{rng: rng, maxMS: 300}
			for at := time.Duration(0); at < run; at += time.Duration(1+rng.IntN(15)) * time.Millisecond {
				flaps.stepTo(r, at)
				switch x := rng.IntN(100); {
				case x < 5:
					r.store.failNext.Store(1)
				case x < 10:
					r.store.lose.Store(true)
				}
				k := keys[rng.IntN(len(keys))]
				n := 1 + rng.IntN(lim.Burst)
				switch op := rng.IntN(100); {
				case op < 45:
					res, err := r.g.AllowN(ctx, k, lim, n)
					if err != nil {
						t.Fatalf("AllowN: %v", err)
					}
					if res.Allowed {
						for range n {
							times[k] = append(times[k], at)
						}
					}
				case op < 99:
					res, err := r.g.ReserveN(ctx, k, lim, n, time.Duration(rng.IntN(1500))*time.Millisecond)
					if err != nil {
						t.Fatalf("ReserveN: %v", err)
					}
					if res.OK {
						queued[k] = append(queued[k], pending{res, at + res.Delay, n})
					}
				default:
					if err := r.g.Hold(ctx, k, lim, time.Duration(rng.IntN(400))*time.Millisecond); err != nil {
						t.Fatalf("Hold: %v", err)
					}
				}
				r.settle()
				// Cancel any pending reservation (not only the newest).
				if q := queued[k]; len(q) > 0 && rng.IntN(15) == 0 {
					j := rng.IntN(len(q))
					if q[j].at > at && q[j].res.Delay > 0 {
						if err := q[j].res.Cancel(ctx); err != nil {
							t.Fatalf("Cancel: %v", err)
						}
						queued[k] = slices.Delete(q, j, j+1)
					}
				}
				r.settle()
			}
			for _, k := range keys {
				ts := times[k]
				for _, p := range queued[k] {
					for range p.n {
						ts = append(ts, p.at)
					}
				}
				if e, _, _ := allPairsExcess(ts, lim); testing.Verbose() {
					t.Logf("key %s: %d admitted, excess %d", k, len(ts), e)
				}
				if e, a, b := allPairsExcess(ts, lim); e > 0 {
					t.Errorf("run %d key %s %s share %.2f: window [%s, %s] is %d above bound+Burst", i, k, lim, share, a, b, e)
				}
			}
		})
	}
}

package limitertest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/slotbook"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// testRandomCancels drives three handles on one key with random
// reservations, AllowN calls, cancels of any queued reservation (in any
// order, by any handle), Holds, Resets and (on a movable clock) clock
// steps, and checks after every grant that no slot granted since the last
// Reset is within one interval (Burst 1) of another such slot that was not
// given back: a slot is never granted twice. A cancel is seen to give its
// slot back when another handle's Status finds the bucket one interval
// fuller; a cancel of a reservation from before a Reset or a Hold must give
// nothing back.
func testRandomCancels(t *testing.T, h Harness) {
	for seed := range 8 {
		t.Run("", func(t *testing.T) { testRandomCancelsSeed(t, h, uint64(seed)) })
	}
}

func testRandomCancelsSeed(t *testing.T, h Harness, seed uint64) {
	hs := []limiter.Limiter{open(t, h), open(t, h), open(t, h)}
	probe := open(t, h)
	c := newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(10), Burst: 1}
	T := lim.Interval()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(77, seed))
	now := func() time.Duration {
		if c.real() {
			return time.Since(c.start)
		}
		return c.elapsed
	}
	book := &slotbook.Book{T: t, Interval: T, Tol: c.tol(), Now: now, FullAfter: slotbook.FullAfter(t, probe, k, lim)}
	steps := 160
	if c.real() {
		steps = 80
	}
	for step := range steps {
		switch op := rng.IntN(100); {
		case op < 45:
			l := hs[rng.IntN(len(hs))]
			t0 := now()
			r, err := l.ReserveN(ctx, k, lim, 1, 200*T)
			if err != nil {
				t.Fatalf("step %d ReserveN: %v", step, err)
			}
			if !r.OK {
				continue
			}
			book.Add(&slotbook.Slot{R: r, Lo: t0 + r.Delay, At: now() + r.Delay, Queued: r.Delay > 0}, "ReserveN", step)
		case op < 55:
			t0 := now()
			res, err := hs[rng.IntN(len(hs))].AllowN(ctx, k, lim, 1)
			if err != nil {
				t.Fatalf("step %d AllowN: %v", step, err)
			}
			if res.Allowed {
				book.Add(&slotbook.Slot{Lo: t0, At: now()}, "AllowN", step)
			}
		case op < 88:
			// Cancel a random queued reservation whose slot is ahead.
			book.CancelOne(ctx, rng, step)
		case op < 92:
			d := time.Duration(rng.IntN(3)) * T
			book.Hold(ctx, step, hs[rng.IntN(len(hs))], k, lim, d)
			// The Hold's time counts as taken for one interval: it is
			// no slot, so nothing to check.
		case op < 95:
			book.Reset(ctx, step, hs[rng.IntN(len(hs))], k)
		default:
			if !c.real() {
				d := time.Duration(rng.Int64N(int64(T/2/time.Microsecond))) * time.Microsecond
				c.h.Advance(d)
				c.elapsed += d
			}
		}
	}
}

package limitertest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

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
	type slot struct {
		r     *limiter.Reservation
		at    time.Duration // offset from the table's start, measured after the call
		lo    time.Duration // the same, measured before it (a real clock)
		epoch int           // Resets before it
		held  bool          // a Hold or a Reset came after it: its cancel gives nothing back
	}
	var live []*slot
	epoch := 0
	now := func() time.Duration {
		if c.real() {
			return time.Since(c.start)
		}
		return c.elapsed
	}
	fullAfter := func() time.Duration {
		t.Helper()
		st, err := probe.Status(ctx, k, lim)
		if err != nil {
			t.Fatal(err)
		}
		return st.FullAfter
	}
	check := func(s *slot, what string) {
		t.Helper()
		for _, o := range live {
			if o == s || o.epoch != s.epoch {
				continue
			}
			// The slots are known within [lo, at]: too close only when
			// even their farthest ends are.
			if d := max(s.at-o.lo, o.at-s.lo); d < T-c.tol()-time.Microsecond {
				t.Fatalf("%s: slot at %s and another at %s, both granted since the last Reset and neither given back: a slot given twice", what, s.at, o.at)
			}
		}
	}
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
			s := &slot{r: r, lo: t0 + r.Delay, at: now() + r.Delay, epoch: epoch}
			check(s, "ReserveN")
			live = append(live, s)
		case op < 55:
			t0 := now()
			res, err := hs[rng.IntN(len(hs))].AllowN(ctx, k, lim, 1)
			if err != nil {
				t.Fatalf("step %d AllowN: %v", step, err)
			}
			if res.Allowed {
				s := &slot{lo: t0, at: now(), epoch: epoch}
				check(s, "AllowN")
				live = append(live, s)
			}
		case op < 88:
			// Cancel a random queued reservation whose slot is ahead.
			var cands []int
			for i, s := range live {
				if s.r != nil && s.at > now()+c.tol() && s.r.Delay > 0 {
					cands = append(cands, i)
				}
			}
			if len(cands) == 0 {
				continue
			}
			i := cands[rng.IntN(len(cands))]
			s := live[i]
			before := fullAfter()
			if err := s.r.Cancel(ctx); err != nil {
				t.Fatalf("step %d Cancel: %v", step, err)
			}
			after := fullAfter()
			given := before-after > T/2
			if given && (s.held || s.epoch != epoch) {
				t.Fatalf("step %d: the cancel of a reservation from before a Hold or a Reset gave %s back", step, before-after)
			}
			if given {
				live = append(live[:i], live[i+1:]...)
			} else {
				s.r = nil // cancelled: no second try
			}
		case op < 92:
			d := time.Duration(rng.IntN(3)) * T
			if err := hs[rng.IntN(len(hs))].Hold(ctx, k, lim, d); err != nil {
				t.Fatalf("step %d Hold: %v", step, err)
			}
			for _, s := range live {
				s.held = true
			}
			// The Hold's time counts as taken for one interval: it is
			// no slot, so nothing to check.
		case op < 95:
			if err := hs[rng.IntN(len(hs))].Reset(ctx, k); err != nil {
				t.Fatalf("step %d Reset: %v", step, err)
			}
			epoch++
			for _, s := range live {
				s.held = true
			}
		default:
			if !c.real() {
				d := time.Duration(rng.Int64N(int64(T/2/time.Microsecond))) * time.Microsecond
				c.h.Advance(d)
				c.elapsed += d
			}
		}
	}
}

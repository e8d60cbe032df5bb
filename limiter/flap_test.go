package limiter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// flapRig is one process: a Handle under the fallback policy (its default
// fallback, on the rig's clock) on a store that the test takes down and
// up, all on one testutil.StepClock.
type flapRig struct {
	t     *testing.T
	clock *testutil.StepClock
	store *fakeStore
	g     *limiter.Handle
	start time.Time
}

func newFlapRig(t *testing.T, share float64) *flapRig {
	t.Helper()
	c := newStepClock()
	r := &flapRig{t: t, clock: c, start: c.Now(), store: newFakeStore(c.Now)}
	g, err := limiter.NewHandle(r.store, limiter.Policy{OnFailure: limiter.FailFallback,
		FallbackShare: share,
		Now:           c.Now, Sleep: c.Sleep, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.g = g
	t.Cleanup(func() { g.Close() })
	return r
}

// acrossSwitch holds back the store's answer to call a, takes the store
// down, makes call b (the fallback decides it), then lets a's answer
// arrive, and returns both results once r settled.
func (r *flapRig) acrossSwitch(a, b func(context.Context) (limiter.Result, error)) (resA, resB limiter.Result) {
	r.t.Helper()
	ctx := context.Background()
	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.store.answered = func() { once.Do(func() { close(inFlight); <-release }) }
	done := make(chan limiter.Result, 1)
	go func() {
		res, err := a(ctx)
		if err != nil {
			r.t.Errorf("A: %v", err)
		}
		done <- res
	}()
	<-inFlight
	r.store.failing.Store(true)
	resB, err := b(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	close(release)
	resA = <-done
	r.settle()
	return resA, resB
}

// flapper takes the store down and up at random: from 0, down first, each
// state lasts 1 to maxMS ms, drawn from rng.
type flapper struct {
	rng   *rand.Rand
	maxMS int
	down  bool
	flip  time.Duration // when the state changes next
}

// stepTo steps r's clock to at, the store down or up as the flaps have it
// by then.
func (f *flapper) stepTo(r *flapRig, at time.Duration) {
	for at >= f.flip {
		f.down = !f.down
		f.flip += time.Duration(1+f.rng.IntN(f.maxMS)) * time.Millisecond
	}
	r.step(at, f.down)
}

// stepFaulty is stepTo, then the next call to the store fails alone (5 %:
// it may be a raise or the probe's) or loses its reply after the store
// decided (5 %: its slot taken, the caller told it failed), drawn from
// f's rng.
func (f *flapper) stepFaulty(r *flapRig, at time.Duration) {
	f.stepTo(r, at)
	switch x := f.rng.IntN(100); {
	case x < 5:
		r.store.failNext.Store(1)
	case x < 10:
		r.store.lose.Store(true)
	}
}

// randomLimit draws from rng a limit of 1 to rate tokens per 1 to periods
// seconds, with a Burst of 1 to burst.
func randomLimit(rng *rand.Rand, rate, periods, burst int) limiter.Limit {
	return limiter.Limit{Rate: 1 + rng.IntN(rate), Period: time.Duration(1+rng.IntN(periods)) * time.Second, Burst: 1 + rng.IntN(burst)}
}

// fallbackBurst takes the store down (at 0) and a full burst of lim on
// "k" from the fallback, failing the test unless each call is admitted.
func (r *flapRig) fallbackBurst(ctx context.Context, lim limiter.Limit) {
	r.t.Helper()
	r.step(0, true)
	for i := range lim.Burst {
		if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || !res.Allowed {
			r.t.Fatalf("fallback AllowN %d: %+v, %v", i, res, err)
		}
	}
	r.settle()
}

// settle waits until the probe, if any, is pausing or has switched back,
// so that each step's outcome does not depend on the scheduler.
func (r *flapRig) settle() {
	deadline := time.Now().Add(5 * time.Second)
	for r.g.Degraded() && r.clock.Sleeping() == 0 {
		if time.Now().After(deadline) {
			r.t.Fatal("the probe neither paused nor switched back within 5 s")
		}
		runtime.Gosched()
	}
}

// step moves to offset at with the store down or up, and lets the probe
// act on it.
func (r *flapRig) step(at time.Duration, down bool) {
	r.store.failing.Store(down)
	r.clock.Set(r.start.Add(at))
	r.settle()
}

// checkFlapWindows fails t when a window of one interval, ten intervals, one
// Period or the whole run holds more than the limit's bound plus one Burst
// (the promise for one process under the fallback, README "Failure
// policies"), and returns the
// largest excess over the limit's own bound.
func checkFlapWindows(t *testing.T, times []time.Duration, limit limiter.Limit, run time.Duration) (excess int) {
	t.Helper()
	T := limit.Interval()
	excess = -1 << 30
	for _, w := range []time.Duration{T, 10 * T, limit.Period, run} {
		sorted, i, n := limitertest.FullestWindow(times, w)
		bound := limitertest.Bound(limit, w)
		excess = max(excess, n-bound)
		if n > bound+limit.Burst {
			t.Errorf("%d admissions in [%s, %s+%s): the limit %s allows %d, plus one Burst under the fallback: %d\nthe window: %v",
				n, sorted[i], sorted[i], w, limit, bound, bound+limit.Burst, sorted[i:i+n])
		}
	}
	return excess
}

// TestFallbackFlapping is the flap of issue 12: a store down and up every
// 250 ms for 10 s, PerSecond(2), share 0.5, one AllowN every 10 ms. Before
// the handover between the store and the fallback, each switch found a
// full bucket on the other side: 30 admitted where the bound is 20.
func TestFallbackFlapping(t *testing.T) {
	lim := limiter.PerSecond(2)
	r := newFlapRig(t, 0.5)
	ctx := context.Background()
	const run = 10 * time.Second
	var times []time.Duration
	for at := time.Duration(0); at < run; at += 10 * time.Millisecond {
		r.step(at, at/(250*time.Millisecond)%2 == 1)
		res, err := r.g.AllowN(ctx, "k", lim, 1)
		if err != nil {
			t.Fatalf("AllowN at %s: %v", at, err)
		}
		if res.Allowed {
			times = append(times, at)
		}
		r.settle()
	}
	excess := checkFlapWindows(t, times, lim, run)
	t.Logf("%d admitted in %s (bound %d); largest excess over the bound in any window checked: %d",
		len(times), run, limitertest.Bound(lim, run), excess)
	if excess > 0 {
		t.Errorf("Burst 1 and share 0.5: the handover is exact, yet a window went %d above the bound", excess)
	}
}

// TestFallbackFlappingRandom: random limits, shares, flap schedules (down
// and up spells of 1 ms to 600 ms, some as short as one call) and mixes of
// AllowN, ReserveN (the slot counts at its time), cancels and Holds, from
// a fixed seed: no window of any length checked goes above the limit's
// bound plus one Burst.
func TestFallbackFlappingRandom(t *testing.T) {
	shares := []float64{0.25, 0.5, 0.75, 1}
	worst := -1 << 30
	for i := range 40 {
		rng := rand.New(rand.NewPCG(12, uint64(i)))
		lim := randomLimit(rng, 20, 3, 6)
		share := shares[rng.IntN(len(shares))]
		t.Run("", func(t *testing.T) {
			r := newFlapRig(t, share)
			times := flapRun(t, r, rng, lim)
			excess := checkFlapWindows(t, times, lim, 8*time.Second)
			worst = max(worst, excess)
			if testing.Verbose() {
				t.Logf("run %d: %s share %.2f: %d admitted (the limit's bound over the run: %d), largest excess %d",
					i, lim, share, len(times), limitertest.Bound(lim, 8*time.Second), excess)
			}
		})
	}
	t.Logf("largest excess over the limit's bound in any window of any run: %d", worst)
}

// flapRun drives r for 8 s of its clock with random flaps and calls, and
// returns the times of the admissions.
func flapRun(t *testing.T, r *flapRig, rng *rand.Rand, lim limiter.Limit) []time.Duration {
	ctx := context.Background()
	const run = 8 * time.Second
	type pending struct {
		res *limiter.Reservation
		at  time.Duration
	}
	var times []time.Duration
	var queued []pending
	flaps := &flapper{rng: rng, maxMS: 600}
	for at := time.Duration(0); at < run; at += time.Duration(1+rng.IntN(20)) * time.Millisecond {
		flaps.stepTo(r, at)
		for range 1 + rng.IntN(2) {
			n := 1 + rng.IntN(lim.Burst)
			switch op := rng.IntN(100); {
			case op < 50:
				res, err := r.g.AllowN(ctx, "k", lim, n)
				if err != nil {
					t.Fatalf("AllowN at %s: %v", at, err)
				}
				if res.Allowed {
					for range n {
						times = append(times, at)
					}
				}
			case op < 99:
				res, err := r.g.ReserveN(ctx, "k", lim, n, time.Duration(rng.IntN(500))*time.Millisecond)
				if err != nil {
					t.Fatalf("ReserveN at %s: %v", at, err)
				}
				if res.OK {
					for range n {
						queued = append(queued, pending{res, at + res.Delay})
					}
				}
			default:
				if err := r.g.Hold(ctx, "k", lim, time.Duration(rng.IntN(300))*time.Millisecond); err != nil {
					t.Fatalf("Hold at %s: %v", at, err)
				}
			}
			r.settle()
		}
		// Now and then the newest reservation whose slot is still ahead
		// is given back; a slot whose time came counts as admitted.
		if len(queued) > 0 && rng.IntN(10) == 0 {
			last := queued[len(queued)-1]
			if last.at > at && last.res.Delay > 0 {
				if err := last.res.Cancel(ctx); err != nil {
					t.Fatalf("Cancel at %s: %v", at, err)
				}
				queued = slices.DeleteFunc(queued, func(p pending) bool { return p.res == last.res })
			}
		}
	}
	for _, p := range queued {
		times = append(times, p.at)
	}
	return times
}

// TestFallbackAnswerAcrossSwitch: a store answer that arrives after the
// fallback admitted on the key is not acted on. Every(1s): call A is
// admitted by the store, and its answer is held back; the store goes down,
// call B is admitted by the fallback (which had not heard of A's slot);
// then A's answer arrives. Before the handover both went through at the
// same instant; now A decides again, on the fallback, and is refused.
func TestFallbackAnswerAcrossSwitch(t *testing.T) {
	lim := limiter.Every(time.Second)
	r := newFlapRig(t, 1)
	allow := func(ctx context.Context) (limiter.Result, error) { return r.g.AllowN(ctx, "k", lim, 1) }
	resA, b := r.acrossSwitch(allow, allow)
	if !b.Allowed || resA.Allowed {
		t.Errorf("A (the store's answer in flight across the switch): %+v; B (the fallback's): %+v; want B alone admitted", resA, b)
	}
}

// TestFallbackChargesStoreOnce: while the store is down the fallback
// (share 1) takes a full burst; when the store answers again, eight
// callers at the same instant find it charged with that burst: none is
// admitted, and one Hold raised the store for all of them. Before the
// handover the store admitted a fresh burst of 4.
func TestFallbackChargesStoreOnce(t *testing.T) {
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}
	r := newFlapRig(t, 1)
	ctx := context.Background()
	r.fallbackBurst(ctx, lim)
	r.step(time.Millisecond, false)
	if r.g.Degraded() {
		t.Fatal("the probe did not switch back")
	}
	// The raise is held up until every caller has started, so that they
	// find it running.
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(8)
	r.store.holding = func() { <-release }
	var admitted atomic.Int64
	var wg sync.WaitGroup
	go func() {
		started.Wait()
		for range 100 {
			runtime.Gosched()
		}
		close(release)
	}()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			res, err := r.g.AllowN(ctx, "k", lim, 1)
			if err != nil {
				t.Errorf("store AllowN: %v", err)
			}
			if res.Allowed {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 0 {
		t.Errorf("%d admitted by the store 1 ms after the fallback took a full burst: want 0", n)
	}
	if n := r.store.holds.Load(); n != 1 {
		t.Errorf("%d Holds raised the store, want 1", n)
	}
	r.store.holding = nil
	// One interval (100 ms) after the burst, the steady rate gives one
	// token (the raise adds a microsecond or two).
	r.step(99*time.Millisecond, false)
	if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || res.Allowed {
		t.Errorf("AllowN 99 ms after the fallback's burst: %+v, %v; want refused", res, err)
	}
	r.step(100*time.Millisecond+2*time.Microsecond, false)
	if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Errorf("AllowN once the charge has run out: %+v, %v; want one token", res, err)
	}
}

// TestFallbackFlappingConcurrent: four goroutines call at every step while
// a fifth takes the store down or up in the middle of the step, so that
// calls are in flight across the switches: no window goes above the
// limit's bound.
func TestFallbackFlappingConcurrent(t *testing.T) {
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 3}
	for _, share := range []float64{0.5, 1} {
		r := newFlapRig(t, share)
		rng := rand.New(rand.NewPCG(12, 5))
		ctx := context.Background()
		const run = 5 * time.Second
		var mu sync.Mutex
		var times []time.Duration
		down := false
		for at := time.Duration(0); at < run; at += 5 * time.Millisecond {
			r.step(at, down)
			flip := rng.IntN(8) == 0
			var wg sync.WaitGroup
			for i := range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == 4 {
						if flip {
							down = !down
							r.store.failing.Store(down)
						}
						return
					}
					var ok bool
					var at2 time.Duration
					if i%2 == 0 {
						res, err := r.g.AllowN(ctx, "k", lim, 1)
						if err != nil {
							t.Errorf("AllowN: %v", err)
						}
						ok, at2 = res.Allowed, at
					} else {
						res, err := r.g.ReserveN(ctx, "k", lim, 1, 200*time.Millisecond)
						if err != nil {
							t.Errorf("ReserveN: %v", err)
						}
						ok = res != nil && res.OK
						if ok {
							at2 = at + res.Delay
						}
					}
					if ok {
						mu.Lock()
						times = append(times, at2)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			r.settle()
		}
		excess := checkFlapWindows(t, times, lim, run)
		t.Logf("share %.2f: %d admitted in %s (bound %d), largest excess %d", share, len(times), run, limitertest.Bound(lim, run), excess)
		// The fallback's share has Burst' 1 (0.5) or the limit itself
		// (1): (Burst'-1)*T' <= (Burst-1)*T, the handover is exact.
		if excess > 0 {
			t.Errorf("share %.2f: a window went %d above the limit's bound, where the handover is exact", share, excess)
		}
	}
}

// TestFallbackReset: a Reset the store cannot take changes nothing (the
// fallback keeps refusing); once the store takes it, both sides forget the
// key: the store admits a full burst, uncharged.
func TestFallbackReset(t *testing.T) {
	lim := limiter.Limit{Rate: 10, Period: time.Second, Burst: 2}
	r := newFlapRig(t, 1)
	ctx := context.Background()
	r.fallbackBurst(ctx, lim)
	if err := r.g.Reset(ctx, "k"); !errors.Is(err, limiter.ErrUnavailable) {
		t.Fatalf("Reset with the store down: %v, want ErrUnavailable", err)
	}
	if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || res.Allowed {
		t.Errorf("after a Reset the store did not take, the fallback admits: %+v, %v", res, err)
	}
	r.settle()
	r.step(time.Millisecond, false)
	if err := r.g.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for i := range lim.Burst {
		if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || !res.Allowed {
			t.Errorf("AllowN %d after the Reset: %+v, %v; want a full burst", i, res, err)
		}
	}
	if n := r.store.holds.Load(); n != 0 {
		t.Errorf("the store was raised %d times after the Reset, want 0", n)
	}
}

// TestFallbackFlapsDuringCall: a call whose store answer is overtaken by a
// fallback admission every time it asks decides again, at most 8 times,
// then fails with an error matching ErrUnavailable; it never acts on an
// answer that did not stand.
func TestFallbackFlapsDuringCall(t *testing.T) {
	lim := limiter.Every(time.Second)
	r := newFlapRig(t, 1)
	ctx := context.Background()
	at, overtaken := time.Duration(0), 0
	r.store.answered = func() {
		// Another call finds the store down and the fallback admits it,
		// then the store answers again.
		at += time.Second
		r.step(at, true)
		if res, err := r.g.AllowN(ctx, "k", lim, 1); err != nil || !res.Allowed {
			t.Errorf("the fallback's AllowN while the store's answer is in flight: %+v, %v", res, err)
		}
		overtaken++
		r.settle()
		at += time.Millisecond
		r.step(at, false)
	}
	res, err := r.g.AllowN(ctx, "k", lim, 1)
	r.store.answered = nil
	if !errors.Is(err, limiter.ErrUnavailable) || res.Allowed {
		t.Errorf("AllowN overtaken %d times: %+v, %v; want an error matching ErrUnavailable", overtaken, res, err)
	}
	if overtaken != 8 {
		t.Errorf("the call asked the store %d times, want 8", overtaken)
	}
	t.Logf("%v", err)
}

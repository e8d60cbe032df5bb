package limitertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// The loads of this file run on a base interval T: 1 ms of the store's
// clock when the suite moves it, 5 ms of real time otherwise (a real
// Redis's round trips stay well below it, so that the load is the
// limiter's, not the network's).
const (
	steppedT = time.Millisecond
	realT    = 5 * time.Millisecond
	// realLoad is how long each real-time load runs.
	realLoad = 500 * time.Millisecond
	// loadSteps is how many steps of T/4 each stepped load runs: 50 T.
	loadSteps = 200
	// loadGoroutines share 4 handles in every load.
	loadGoroutines = 32
)

// perT is a limit of rate per 100 T (so that its Period is a window
// length of its own, beside T and 10 T).
func perT(base time.Duration, rate, burst int) limiter.Limit {
	return limiter.Limit{Rate: rate, Period: 100 * base, Burst: burst}
}

// openN opens n handles the suite closes at the end of the test.
func openN(t *testing.T, h Harness, n int) []limiter.Limiter {
	var ls []limiter.Limiter
	for range n {
		ls = append(ls, open(t, h))
	}
	return ls
}

// admission is a request admitted at an instant known to lie in span.
type admission struct {
	needs []limiter.Need
	span  Span
}

// byKey returns the spans of each key's tokens: a need of n tokens
// counts n times at its request's instant.
func byKey(adms []admission) map[string][]Span {
	m := make(map[string][]Span)
	for _, a := range adms {
		for _, nd := range a.needs {
			for range nd.N {
				m[nd.Key] = append(m[nd.Key], a.span)
			}
		}
	}
	return m
}

// testMixedLoad: 32 goroutines over 4 handles send requests of one to
// three needs over four keys of different limits, overlapping (each key is
// in requests with each other), through Allow and AllowN, Reserve and
// ReserveN (used, or given back at once), WaitAll and Wait: every key
// stays within its bound in every window.
func testMixedLoad(t *testing.T, h Harness) {
	handles := openN(t, h, 4)
	base := steppedT
	if h.Advance == nil {
		base = realT
	}
	limits := []limiter.Limit{perT(base, 100, 4), perT(base, 50, 2), perT(base, 200, 8), perT(base, 80, 1)}
	keys := []string{key(t), key(t), key(t), key(t)}
	shapes := [][]int{{0}, {1}, {2}, {3}, {0, 1}, {1, 2}, {2, 3}, {3, 0}, {0, 2, 3}, {1, 3, 0}}
	pick := func(rng *rand.Rand) []limiter.Need {
		shape := shapes[rng.IntN(len(shapes))]
		needs := make([]limiter.Need, len(shape))
		for i, k := range shape {
			needs[i] = limiter.Need{Key: keys[k], Limit: limits[k], N: 1 + rng.IntN(min(2, limits[k].Burst))}
		}
		return needs
	}
	var adms []admission
	if h.Advance != nil {
		adms = mixedStepped(t, h, handles, base, pick)
	} else {
		adms = mixedReal(t, handles, base, pick)
	}
	spans := byKey(adms)
	for i, k := range keys {
		t.Run(fmt.Sprintf("key%d", i), func(t *testing.T) {
			if len(spans[k]) < 2*limits[i].Burst {
				t.Errorf("only %d tokens admitted: the load did not reach the limit %s", len(spans[k]), limits[i])
			}
			CheckSpans(t, spans[k], limits[i], 3*limits[i].Interval())
		})
	}
}

// tried is what one request of the mixed load did: admitted or not, the
// span of its instant on the run's clock (its call, less 1 µs, plus its
// Delay; see spanClock.lo), its Delay, and a refusal's RetryAfter.
type tried struct {
	ok           bool
	span         Span
	delay, retry time.Duration
	// giveBack is a queued slot to give back (op 2): the caller
	// cancels it after other requests had time to write its keys.
	giveBack *limiter.Reservation
}

// mixedOne sends one request of the mixed load, through the shorthand when
// it has one need: op 0 Allow; 1 Reserve within maxWait (the caller sleeps
// until the slot); 2 the same, but a queued slot is to be given back, not
// used; 3 WaitAll on wctx.
func mixedOne(ctx, wctx context.Context, l limiter.Limiter, clk *spanClock, op int, needs []limiter.Need, maxWait time.Duration) (tried, error) {
	one := len(needs) == 1
	n0 := needs[0]
	lo := clk.lo()
	switch op {
	case 0:
		var r limiter.Result
		var err error
		if one {
			r, err = l.AllowN(ctx, n0.Key, n0.Limit, n0.N)
		} else {
			r, err = l.Allow(ctx, needs...)
		}
		return tried{ok: r.Allowed, span: Span{lo, clk.now()}, retry: r.RetryAfter}, err
	case 1, 2:
		var r *limiter.Reservation
		var err error
		if one {
			r, err = l.ReserveN(ctx, n0.Key, n0.Limit, n0.N, maxWait)
		} else {
			r, err = l.Reserve(ctx, maxWait, needs...)
		}
		if err != nil {
			return tried{}, err
		}
		if !r.OK {
			return tried{retry: r.RetryAfter}, nil
		}
		if op == 2 && r.Delay > 0 {
			return tried{giveBack: r}, nil
		}
		return tried{ok: true, span: Span{lo + r.Delay, clk.now() + r.Delay}, delay: r.Delay}, nil
	default:
		st := &stamped{Limiter: l, clk: clk}
		var err error
		if one {
			err = limiter.Wait(wctx, st, n0.Key, n0.Limit, n0.N)
		} else {
			err = limiter.WaitAll(wctx, st, needs...)
		}
		if err != nil {
			return tried{}, err
		}
		return tried{ok: true, span: st.span, delay: st.res.Delay}, nil
	}
}

// mixedStepped is the mixed load on a moved clock, in steps of T/4: every
// goroutine sends one request per step, after giving back the slot it
// kept to give back in the step before, whose keys the other goroutines
// may have written since. An admission is stamped with the step's store
// time plus its Delay: exact, so that its span is an instant. (Wait and
// WaitAll sleep their Delays in real time, within 1 ms: their contexts end
// then, and a slot too late for them is no error. A slot to give back
// whose time has come already stays taken and is not counted: the check
// only gets easier.)
func mixedStepped(t *testing.T, h Harness, handles []limiter.Limiter, base time.Duration, pick func(*rand.Rand) []limiter.Need) []admission {
	var mu sync.Mutex
	var adms []admission
	clk := &spanClock{start: time.Now()}
	kept := make([]*limiter.Reservation, loadGoroutines)
	runStepped(h, handles, loadGoroutines, loadSteps, base/4, func(l limiter.Limiter, g, i int, now time.Duration) {
		ctx := context.Background()
		if kept[g] != nil {
			if err := kept[g].Cancel(ctx); err != nil {
				t.Errorf("goroutine %d, step %d: Cancel: %v", g, i, err)
			}
			kept[g] = nil
		}
		rng := rand.New(rand.NewPCG(uint64(g), uint64(i)))
		needs := pick(rng)
		wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		r, err := mixedOne(ctx, wctx, l, clk, rng.IntN(4), needs, 4*base)
		if errors.Is(err, limiter.ErrSlotTooLate) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Errorf("goroutine %d, step %d: %v", g, i, err)
			return
		}
		kept[g] = r.giveBack
		if r.ok {
			mu.Lock()
			adms = append(adms, admission{needs: needs, span: Span{now + r.delay, now + r.delay}})
			mu.Unlock()
		}
	})
	return adms
}

// mixedReal is the mixed load on the real clock for realLoad: each
// goroutine sends requests until the run ends, sleeping a refusal's
// RetryAfter and a reserved slot's Delay; it gives a slot to give back
// halfway to it, so that other requests may have written its keys.
func mixedReal(t *testing.T, handles []limiter.Limiter, base time.Duration, pick func(*rand.Rand) []limiter.Need) []admission {
	rngs := make([]*rand.Rand, loadGoroutines)
	for g := range rngs {
		rngs[g] = rand.New(rand.NewPCG(uint64(g), 7))
	}
	return runReal(t, handles, loadGoroutines, realLoad, func(ctx context.Context, l limiter.Limiter, g int, clk *spanClock) (admission, time.Duration, error) {
		rng := rngs[g]
		needs, op := pick(rng), rng.IntN(4)
		r, err := mixedOne(ctx, ctx, l, clk, op, needs, 4*base)
		if err == nil && r.giveBack != nil {
			if err := sleepCtx(ctx, r.giveBack.Delay/2); err != nil {
				return admission{}, 0, err
			}
			return admission{}, time.Microsecond, r.giveBack.Cancel(ctx)
		}
		if err != nil || !r.ok {
			return admission{}, refusedFor(false, r.retry), err
		}
		if op != 3 && r.delay > 0 {
			if err := sleepCtx(ctx, r.delay); err != nil {
				return admission{}, 0, err
			}
		}
		return admission{needs: needs, span: r.span}, 0, nil
	})
}

// sleepCtx sleeps d, or until ctx ends (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bindingNeeds is goroutine g's request of the binding load, and the
// index of its tight need. Every request needs the tight key; beside it a
// key of its own and, for half of them, a key shared with 3 other
// goroutines, in an order that puts the tight need first, in the middle or
// last. The
// other keys never bind: their intervals are at most the tight one's and
// their tolerances (Burst-1)*T above it, so that, charged only with the
// tight key (from its slots), their own slots always come before it.
func bindingNeeds(base time.Duration, tight, own, shared string, g int) ([]limiter.Need, int) {
	nt := limiter.Need{Key: tight, Limit: perT(base, 100, 2), N: 1}
	no := limiter.Need{Key: own, Limit: perT(base, 200, 4), N: 1}
	ns := limiter.Need{Key: shared, Limit: perT(base, 300, 6), N: 1}
	switch g % 4 {
	case 0:
		return []limiter.Need{nt, no}, 0
	case 1:
		return []limiter.Need{no, nt}, 1
	case 2:
		return []limiter.Need{no, nt, ns}, 1
	default:
		return []limiter.Need{ns, no, nt}, 2
	}
}

// testBindingLoad: 32 goroutines over 4 handles send requests of two or
// three needs, all bound by one tight key: every refusal and every queued
// slot names it as binding, every key stays within its bound in every
// window, and the tight key's limit is used at 99 % at least over the run.
func testBindingLoad(t *testing.T, h Harness) {
	handles := openN(t, h, 4)
	tight := key(t)
	var own, shared []string
	for range loadGoroutines {
		own = append(own, key(t))
	}
	for range loadGoroutines / 8 {
		shared = append(shared, key(t))
	}
	base := steppedT
	if h.Advance == nil {
		base = realT
	}
	needsOf := func(g int) ([]limiter.Need, int) { return bindingNeeds(base, tight, own[g], shared[g/8], g) }
	var adms []admission
	if h.Advance != nil {
		adms = bindingStepped(t, h, handles, base, needsOf)
	} else {
		adms = bindingReal(t, handles, needsOf)
	}
	spans := byKey(adms)
	limitOf := map[string]limiter.Limit{}
	for g := range loadGoroutines {
		needs, _ := needsOf(g)
		for _, nd := range needs {
			limitOf[nd.Key] = nd.Limit
		}
	}
	for k, ss := range spans {
		if k != tight {
			CheckSpans(t, ss, limitOf[k])
		}
	}
	lim := limitOf[tight]
	CheckSpans(t, spans[tight], lim, 3*lim.Interval())
	CheckSpanUsage(t, spans[tight], lim)
}

// bindingStepped is the binding load on a moved clock, in steps of T/4:
// half the goroutines Allow, half Reserve within 2 T, in turns.
func bindingStepped(t *testing.T, h Harness, handles []limiter.Limiter, base time.Duration, needsOf func(int) ([]limiter.Need, int)) []admission {
	var mu sync.Mutex
	var adms []admission
	runStepped(h, handles, loadGoroutines, loadSteps, base/4, func(l limiter.Limiter, g, i int, now time.Duration) {
		needs, tight := needsOf(g)
		ctx := context.Background()
		var ok, waited bool
		var binding int
		var delay time.Duration
		if (g+i)%2 == 0 {
			r, err := l.Allow(ctx, needs...)
			if err != nil {
				t.Errorf("goroutine %d, step %d: Allow: %v", g, i, err)
				return
			}
			ok, waited, binding = r.Allowed, !r.Allowed, r.Binding
		} else {
			r, err := l.Reserve(ctx, 2*base, needs...)
			if err != nil {
				t.Errorf("goroutine %d, step %d: Reserve: %v", g, i, err)
				return
			}
			ok, waited, binding, delay = r.OK, !r.OK || r.Delay > 0, r.Binding, r.Delay
		}
		if waited && binding != tight {
			t.Errorf("goroutine %d, step %d: a request of %d needs waited on need %d, want the tight need %d", g, i, len(needs), binding, tight)
		}
		if ok {
			mu.Lock()
			adms = append(adms, admission{needs: needs, span: Span{now + delay, now + delay}})
			mu.Unlock()
		}
	})
	return adms
}

// bindingReal is the binding load on the real clock for realLoad: every
// goroutine calls WaitAll until the run ends. A queued slot must name the
// tight need as binding, and so must a slot too late for the run.
func bindingReal(t *testing.T, handles []limiter.Limiter, needsOf func(int) ([]limiter.Need, int)) []admission {
	return runReal(t, handles, loadGoroutines, realLoad, func(ctx context.Context, l limiter.Limiter, g int, clk *spanClock) (admission, time.Duration, error) {
		needs, tight := needsOf(g)
		st := &stamped{Limiter: l, clk: clk}
		err := limiter.WaitAll(ctx, st, needs...)
		var de *limiter.DeadlineError
		if errors.As(err, &de) && de.Key != needs[tight].Key {
			t.Errorf("goroutine %d: a slot too late for the run names key %q, want the tight key %q", g, de.Key, needs[tight].Key)
		}
		if err == nil && st.res.Delay > 0 && st.res.Binding != tight {
			t.Errorf("goroutine %d: a queued slot of %d needs is bound by need %d, want the tight need %d", g, len(needs), st.res.Binding, tight)
		}
		return admission{needs: needs, span: st.span}, 0, err
	})
}

package limiter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/lifecycle"
	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// TestCloseGivesBackCompositeWaits: Close gives the slots of composite
// Waits in flight back on every key, so that the keys are exactly as
// before the Waits, and those Waits return ErrClosed. The second Wait's
// binding need (b) is not the first's (a), and its binding key's new tat
// (b at 10.4 s) is below the first's (a at 20 s): the slots must still be
// given back newest first, or the first's cancel finds both keys touched
// and its slots stay taken. (Slots 10 s ahead: Close comes before them in
// real time.)
func TestCloseGivesBackCompositeWaits(t *testing.T) {
	clock := newFakeTime()
	store := newFakeStore(clock.Now)
	g, err := limiter.NewHandle(store, limiter.Policy{Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	view := memory.New(memory.WithState(store.st)) // sees the store after Close
	defer view.Close()
	ctx := context.Background()
	la := limiter.Limit{Rate: 10, Period: time.Second, Burst: 100} // T 100 ms, tau 10 s
	lb := limiter.Limit{Rate: 5, Period: time.Second, Burst: 1}    // T 200 ms
	if err := g.Hold(ctx, "a", la, 10*time.Second); err != nil {   // a's next slot at 10 s
		t.Fatal(err)
	}
	before := []limiter.Status{status(t, view, "a", la), status(t, view, "b", lb)}
	needs := []limiter.Need{need("a", la, 1), need("b", lb, 1)}
	done := make(chan error, 2)
	go func() { done <- limiter.WaitAll(ctx, g, needs...) }() // at 10 s, a binds
	waitFor(t, func() bool { return status(t, view, "b", lb).FullAfter == 10200*time.Millisecond })
	go func() { done <- limiter.WaitAll(ctx, g, needs...) }() // at 10.2 s, b binds
	waitFor(t, func() bool { return status(t, view, "b", lb).FullAfter == 10400*time.Millisecond })
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("a WaitAll in flight at Close: %v, want ErrClosed", err)
		}
	}
	after := []limiter.Status{status(t, view, "a", la), status(t, view, "b", lb)}
	if after[0] != before[0] || after[1] != before[1] {
		t.Errorf("after Close: a %+v, b %+v; want both as before the Waits: %+v, %+v", after[0], after[1], before[0], before[1])
	}
}

// TestCloseEndsFailWaitRetry: a call retrying a store that is down under
// FailWait returns, matching ErrClosed, as soon as Close is called: Close
// does not wait for its grace (5 s), and the store is closed after the
// call has returned. The retry's pause is the test's (a testutil.StepClock that
// never moves: without Close the call would pause for ever).
func TestCloseEndsFailWaitRetry(t *testing.T) {
	for _, op := range []string{"AllowN", "WaitAll", "Status"} {
		t.Run(op, func(t *testing.T) {
			clock := newStepClock()
			store := newFakeStore(clock.Now)
			store.failing.Store(true)
			g, err := limiter.NewHandle(store, limiter.Policy{Now: clock.Now, Sleep: clock.Sleep,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // ends the call should Close not
			l := limiter.PerSecond(10)
			done := make(chan error, 1)
			go func() {
				var err error
				switch op {
				case "AllowN":
					_, err = g.AllowN(ctx, "k", l, 1)
				case "WaitAll":
					err = limiter.WaitAll(ctx, g, need("k", l, 1), need("j", l, 1))
				case "Status":
					_, err = g.Status(ctx, "k", l)
				}
				done <- err
			}()
			waitFor(t, func() bool { return clock.Sleeping() == 1 }) // the retry pauses
			start := time.Now()
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			// Close returns once the handle's call has ended; the call's
			// goroutine may send its error a moment later (WaitAll returns
			// what Reserve gave it), so the error is awaited, not polled.
			if took := time.Since(start); took >= lifecycle.Grace {
				t.Fatalf("Close took %v: it waited out its grace (%v) for the %s retrying", took, lifecycle.Grace, op)
			}
			select {
			case err := <-done:
				if !errors.Is(err, limiter.ErrClosed) || !errors.Is(err, limiter.ErrUnavailable) {
					t.Errorf("%s retrying at Close: %v, want ErrClosed (and the store's ErrUnavailable)", op, err)
				}
			case <-time.After(lifecycle.Grace):
				t.Fatalf("%s was still retrying %v after Close returned", op, lifecycle.Grace)
			}
			if !store.closed.Load() {
				t.Error("Close did not close the store")
			}
		})
	}
}

// TestCloseGivesBackCompositeFallbackWaits: a composite Wait whose slot
// the fallback granted (the store down) is given back on both keys of the
// fallback when the Handle closes, and returns ErrClosed.
func TestCloseGivesBackCompositeFallbackWaits(t *testing.T) {
	g, view := downWithFallback(t, limiter.Policy{})
	ctx := context.Background()
	l := limiter.Every(10 * time.Second)
	needs := []limiter.Need{need("a", l, 1), need("b", l, 1)}
	if r, err := g.Allow(ctx, needs...); err != nil || !r.Allowed {
		t.Fatalf("fallback Allow(a, b): %+v, %v", r, err)
	}
	done := make(chan error, 1)
	go func() { done <- limiter.WaitAll(ctx, g, needs...) }()
	waitFor(t, func() bool { return status(t, view, "b", l).FullAfter == 20*time.Second })
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("the WaitAll in flight at Close: %v, want ErrClosed", err)
	}
	if sa, sb := status(t, view, "a", l), status(t, view, "b", l); sa.FullAfter != 10*time.Second || sb.FullAfter != 10*time.Second {
		t.Errorf("the fallback after Close: a %+v, b %+v; want both back at 10s", sa, sb)
	}
}

// TestFallbackWaitSlotGivenBackIsNotUsed: a Wait queued on the fallback
// whose slot is given back as the Handle closes (its pinned slots, newest
// first) must not also go when its timer fires: a Reservation is used or
// given back, never both. The fallback's reservation reaches Wait with the
// ledger's cancel around the fallback's; before the fix (of the Guard this
// core replaced) the wrapper's use did not see that the slot inside had
// been given back, so the Wait went at 1 s while another handle on the
// fallback's State was granted the same slot.
func TestFallbackWaitSlotGivenBackIsNotUsed(t *testing.T) {
	g, other := downWithFallback(t, limiter.Policy{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	ctx := context.Background()
	lim := limiter.Every(time.Second)
	if err := limiter.Wait(ctx, g, "k", lim, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- limiter.Wait(ctx, g, "k", lim, 1) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := other.Status(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		if s.FullAfter >= 2*time.Second {
			break // the second Wait holds the slot at 1 s
		}
		if time.Now().After(deadline) {
			t.Fatal("the second Wait did not reserve within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	g.Close() // gives the pinned slot back
	r, err := other.ReserveN(ctx, "k", lim, 1, 2*time.Second)
	if err != nil || !r.OK {
		t.Fatalf("other's ReserveN: %+v, %v", r, err)
	}
	werr := <-done
	// Used or given back, never both. (Under heavy load the Wait's timer
	// may fire before the Handle closes: then it goes, and its slot
	// stays taken.)
	if werr == nil && r.Delay < 2*time.Second {
		t.Fatalf("the Wait went (nil) although the Handle gave its slot back: another handle was granted the same slot (in %s)", r.Delay)
	}
	if werr != nil && !errors.Is(werr, limiter.ErrClosed) {
		t.Errorf("the Wait whose slot was given back: %v, want ErrClosed", werr)
	}
}

// downWithFallback is a Handle on a step clock whose store is down,
// deciding on an in-process fallback (FallbackShare 1) over a State that
// view, a memory limiter, reads too; p adds its backoffs. Both close when
// t ends.
func downWithFallback(t *testing.T, p limiter.Policy) (g *limiter.Handle, view *memory.Limiter) {
	t.Helper()
	c := newStepClock()
	st := memstore.NewState(c.Now)
	view = memory.New(memory.WithState(st))
	t.Cleanup(func() { view.Close() })
	store := newFakeStore(c.Now)
	store.failing.Store(true)
	p.OnFailure, p.Fallback, p.FallbackShare = limiter.FailFallback, memstore.New(st), 1
	p.Now, p.Sleep, p.Logger = c.Now, c.Sleep, slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := limiter.NewHandle(store, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, view
}

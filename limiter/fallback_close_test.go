package limiter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

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

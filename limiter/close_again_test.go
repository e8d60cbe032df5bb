package limiter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// cancelCounter is a store that counts the requests of each op it gets.
type cancelCounter struct {
	driver.Store
	cancels, reserves atomic.Int64
}

func (c *cancelCounter) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	for _, r := range batch {
		switch r.Op {
		case driver.Cancel:
			c.cancels.Add(1)
		case driver.Reserve:
			c.reserves.Add(1)
		}
	}
	return c.Store.Do(ctx, batch, answers)
}

// TestCloseGivesBackEachWaitOnce: Close gives back the queued slots of
// Waits of one need with one cancel each: a slot whose cancel gave its key
// back is not cancelled again by the extra passes (each a round trip on
// Redis; before, every Wait cost two at Close). Every slot still comes back.
func TestCloseGivesBackEachWaitOnce(t *testing.T) {
	st := memstore.NewState(nil)
	store := &cancelCounter{Store: memstore.New(st)}
	h, err := limiter.NewHandle(store, limiter.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	// No deadline (a Wait would refuse a slot beyond it): Close ends the
	// waiters, and cancel any left if the test fails.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	giveUp := time.Now().Add(30 * time.Second)
	if err := limiter.Wait(ctx, h, "k", lim, 1); err != nil {
		t.Fatal(err)
	}
	const waiters = 20
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- limiter.Wait(ctx, h, "k", lim, 1)
		}()
	}
	for store.reserves.Load() < waiters+1 {
		if time.Now().After(giveUp) {
			t.Fatal("the waiters did not reserve")
		}
		time.Sleep(time.Millisecond)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, limiter.ErrClosed) {
			t.Fatalf("a Wait returned %v, want ErrClosed", err)
		}
	}
	if n := store.cancels.Load(); n != waiters {
		t.Errorf("%d cancels at Close for %d queued Waits, want one each", n, waiters)
	}
	// Every queued slot came back: only the first Wait's is taken.
	other, err := limiter.NewHandle(memstore.New(st), limiter.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s, err := other.Status(context.Background(), "k", lim)
	if err != nil {
		t.Fatal(err)
	}
	if s.FullAfter > time.Hour {
		t.Fatalf("after Close the key is full in %s, want within 1h (the queued slots given back)", s.FullAfter)
	}
}

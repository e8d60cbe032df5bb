package limitertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// reserveAt takes one slot on l and returns it with its delay.
func reserveAt(t *testing.T, l limiter.Limiter, k string, lim limiter.Limit) (*limiter.Reservation, time.Duration) {
	t.Helper()
	r, err := l.ReserveN(context.Background(), k, lim, 1, 100*lim.Interval())
	if err != nil || !r.OK {
		t.Fatalf("ReserveN: %+v, %v", r, err)
	}
	return r, r.Delay
}

// checkApart fails unless two slots granted after a Reset are at least one
// emission interval apart (Burst 1): the same instant twice is a slot
// given twice.
func checkApart(t *testing.T, c *clock, lim limiter.Limit, what string, a, b time.Duration) {
	t.Helper()
	d := b - a
	if d < 0 {
		d = -d
	}
	if d < lim.Interval()-c.tol() {
		t.Fatalf("%s: slots in %s and %s, less than the interval %s apart: a slot was given twice", what, a, b, lim.Interval())
	}
}

// cancelAcrossReset plays the shape both ABA tests share, on a Burst 1
// limit of 10 units: A queues before slots and B one, C resets, A queues
// after slots again, B cancels its pre-Reset reservation and C reserves.
// It returns the clock, the limit, A's slots after the Reset and C's slot.
// check, when set, runs on A's slots before B's cancel.
func cancelAcrossReset(t *testing.T, h Harness, before, after int, check func(c *clock, slotsA []time.Duration)) (*clock, limiter.Limit, []time.Duration, time.Duration) {
	t.Helper()
	a, b, r, c := open(t, h), open(t, h), open(t, h), newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(10), Burst: 1}
	ctx := context.Background()
	for range before {
		reserveAt(t, a, k, lim)
	}
	rb, _ := reserveAt(t, b, k, lim)
	if err := r.Reset(ctx, k); err != nil {
		t.Fatal(err)
	}
	var slotsA []time.Duration
	for range after {
		_, d := reserveAt(t, a, k, lim)
		slotsA = append(slotsA, d)
	}
	if check != nil {
		check(c, slotsA)
	}
	if err := rb.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	_, slotC := reserveAt(t, r, k, lim)
	return c, lim, slotsA, slotC
}

// testCancelAfterResetRebuild: a Reset, then new reservations rebuild the
// exact value a pre-Reset reservation stored; that reservation's cancel must
// not take it for its own (ABA). A takes slot 0, B slot 10; after the Reset
// A takes slot 0 again and slot 10, B's value rebuilt.
func testCancelAfterResetRebuild(t *testing.T, h Harness) {
	c, lim, slotsA, next := cancelAcrossReset(t, h, 1, 2, nil)
	checkApart(t, c, lim, "a cancel from before a Reset, after the queue was rebuilt", slotsA[1], next)
}

// testCancelAfterResetFloor is the same through a handle that remembers its
// own queue (a Redis handle's floor): A queues two slots, B one, C resets,
// A reserves again, B cancels, C reserves: A's and C's slots must differ.
func testCancelAfterResetFloor(t *testing.T, h Harness) {
	c, lim, slotsA, slotC := cancelAcrossReset(t, h, 2, 1, func(c *clock, slotsA []time.Duration) {
		if slotsA[0] > c.tol() {
			t.Errorf("A's first reservation after a Reset is in %s, want now: the Reset did not empty the queue for A", slotsA[0])
		}
	})
	checkApart(t, c, lim, "A's slot after the Reset and C's after B's pre-Reset cancel", slotsA[0], slotC)
}

// testResetEmptiesEveryQueue: A takes 4 slots and cancels 3 oldest first
// (no-ops: later slots stand on them); a Reset by B empties the bucket for
// every handle, A included, whatever A remembers of its queue.
func testResetEmptiesEveryQueue(t *testing.T, h Harness) {
	a, b, r, c := open(t, h), open(t, h), open(t, h), newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(10), Burst: 1}
	ctx := context.Background()
	rs := reserveChain(t, a, k, lim, 4)
	for _, x := range rs[:3] {
		if err := x.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reserveAt(t, b, k, lim)
	if err := b.Reset(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, d := reserveAt(t, a, k, lim); d > c.tol() {
		t.Fatalf("after B's Reset, A's next slot is in %s, want now (a full bucket)", d)
	}
	if err := r.Reset(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, d := reserveAt(t, b, k, lim); d > c.tol() {
		t.Fatalf("after a Reset, B's next slot is in %s, want now (a full bucket)", d)
	}
}

// testCancelsChain: cancels run newest first give every slot back, each to
// the value the next one restores.
func testCancelsChain(t *testing.T, h Harness) {
	a, b, c := open(t, h), open(t, h), newClock(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: c.u(10), Burst: 1}
	ctx := context.Background()
	rs := reserveChain(t, a, k, lim, 4)
	for i := len(rs) - 1; i >= 1; i-- {
		if err := rs[i].Cancel(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := nextDelay(t, b, k, lim); !c.near(d, c.u(10)) {
		t.Fatalf("after cancelling 3 of 4 slots newest first, the next is in %s, want %s (only the first taken)", d, c.u(10))
	}
}

// testCloseGivesBackAll: 40 Waits queued on one handle, then Close: every
// Wait returns ErrClosed and another handle finds the bucket within one
// slot of full (the slots are given back newest first, so that the cancels
// chain).
func testCloseGivesBackAll(t *testing.T, h Harness) {
	l, probe := h.Open(t), open(t, h)
	k := key(t)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	const waits = 40
	bg := context.Background()
	if err := limiter.Wait(bg, l, k, lim, 1); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, waits)
	var wg sync.WaitGroup
	for range waits {
		wg.Go(func() { errs <- limiter.Wait(bg, l, k, lim, 1) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := probe.Status(bg, k, lim)
		if err != nil {
			t.Fatal(err)
		}
		if st.FullAfter > waits*lim.Interval()+lim.Interval()/2 {
			break
		}
		if time.Now().After(deadline) {
			l.Close()
			t.Fatalf("the %d waiting slots never showed in the store: %+v", waits, st)
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("Wait in flight at Close returned %v, want ErrClosed", err)
		}
	}
	st, err := probe.Status(bg, k, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.FullAfter > lim.Interval()+time.Second {
		t.Fatalf("after Close gave back %d waiting slots, the bucket is full in %s, want at most %s (one slot)",
			waits, st.FullAfter, lim.Interval())
	}
}

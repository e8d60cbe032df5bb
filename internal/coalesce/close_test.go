package coalesce

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Close gives every queued caller ErrClosed at once, ends the batch in
// flight (its callers get ErrClosed), ends the sender and closes the inner
// store once, even when called twice.
func TestCloseWithBatchInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFake()
	s, err := New(batchStore{f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Reserve, "2", 1)
	release()
	inFlight := f.next(t) // b's batch, from the sender
	c := startQueued(t, s, driver.Allow, "3", 1)
	d := startQueued(t, s, driver.Reserve, "4", 2)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for _, x := range []*caller{c, d, b} {
		if err := x.result(t); !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("caller %s on Close: %v, want ErrClosed", x.key, err)
		}
	}
	if inFlight.ctx.Err() == nil {
		t.Error("Close left the batch in flight's context open")
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := f.closes.Load(); n != 1 {
		t.Errorf("the inner store was closed %d times, want once", n)
	}
	f.idle(t) // the queued requests were never sent
}

// Close with a request alone in flight (on its caller's goroutine) gives
// the queued callers ErrClosed and closes the inner store; the request
// alone gets the store's answer, and a call after Close goes to the inner
// store, which answers it (a Cancel racing with Close).
func TestCloseWithRequestAloneInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFake()
	s, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, s, driver.Allow, "1")
	alone := f.next(t)
	b := startQueued(t, s, driver.Allow, "2", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.result(t); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("queued caller on Close: %v, want ErrClosed", err)
	}
	alone.grant()
	a.granted(t)
	if n := f.closes.Load(); n != 1 {
		t.Errorf("the inner store was closed %d times, want once", n)
	}
	late := start(t, s, driver.Cancel, "3")
	c := f.expect(t, false, false, "3")
	c.grant()
	if err := late.result(t); err != nil {
		t.Errorf("call after Close: %v, want the inner store's answer", err)
	}
	f.idle(t)
}

// Close of a Store whose sender is idle ends it; one that never started
// it has nothing to end.
func TestCloseEndsIdleSender(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, linger := range []bool{false, true} {
		f := newFake()
		o := Options{}
		if linger {
			o.Linger = 1
		}
		s, err := New(batchStore{f}, o)
		if err != nil {
			t.Fatal(err)
		}
		release := busy(t, s, f)
		if !linger {
			b := startQueued(t, s, driver.Allow, "2", 1)
			release()
			f.next(t).grant()
			b.granted(t)
		} else {
			release()
		}
		waitIdle(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n := f.closes.Load(); n != 1 {
			t.Errorf("linger %v: the inner store was closed %d times, want once", linger, n)
		}
	}
	s, err := New(newFake(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close with three batches in flight (InFlight 3), a request queued behind
// one of their keys and one queued for want of a place in flight: every
// caller gets ErrClosed, the three batches' contexts end, the queued
// requests are never sent, every sender ends, the inner store closes once.
func TestCloseWithSeveralBatchesInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFake()
	s, err := New(batchStore{f}, Options{InFlight: 3, Linger: 1})
	if err != nil {
		t.Fatal(err)
	}
	var callers []*caller
	var inFlight []*call
	for _, k := range []string{"1", "2", "3"} {
		callers = append(callers, start(t, s, driver.Reserve, k))
		c := f.expect(t, true, true, k)
		inFlight = append(inFlight, c)
	}
	callers = append(callers, startQueued(t, s, driver.Allow, "1", 1), startQueued(t, s, driver.Allow, "4", 2))
	s.mu.Lock()
	active, senders := s.active, s.senders
	s.mu.Unlock()
	if active != 3 {
		t.Fatalf("%d batches in flight, want 3", active)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for _, c := range callers {
		if err := c.result(t); !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("caller %s on Close: %v, want ErrClosed", c.key, err)
		}
	}
	for _, c := range inFlight {
		select {
		case <-c.ctx.Done():
		case <-time.After(wait):
			t.Fatalf("Close left the batch of %q in flight", c.keys)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := f.closes.Load(); n != 1 {
		t.Errorf("the inner store was closed %d times, want once", n)
	}
	f.idle(t)
	t.Logf("%d senders were running", senders)
}

// A Reservation granted to a caller that left is given back even when the
// Store closes before its Cancel could go (it waited for a batch in flight
// beside it): Close sends it to the inner store before closing that.
func TestCloseSendsOrphanCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFake()
	s, err := New(batchStore{f}, Options{InFlight: 2, Linger: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, s, driver.Reserve, "2")
	reserve := f.expect(t, true, true, "2")
	d := start(t, s, driver.Allow, "3")
	f.expect(t, true, true, "3") // the batch beside, left in flight
	b.cancel()
	if err := b.result(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("caller 2 after its context ended: %v", err)
	}
	reserve.grant()     // granted to a caller that left
	waitQueued(t, s, 1) // its Cancel waits for the batch beside it
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if err := d.result(t); !errors.Is(err, limiter.ErrClosed) {
		t.Errorf("caller 3 on Close: %v, want ErrClosed", err)
	}
	c := f.next(t)
	if len(c.ops) != 1 || c.ops[0] != driver.Cancel || c.undos[0] != "undo-2" {
		t.Fatalf("after Close, the store got %v %v, want the Cancel of undo-2", c.ops, c.undos)
	}
	if f.closes.Load() != 0 {
		t.Error("the inner store closed before the Cancel")
	}
	c.grant()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := f.closes.Load(); n != 1 {
		t.Errorf("the inner store was closed %d times, want once", n)
	}
}

package coalesce

import (
	"context"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// caller is one goroutine calling Store.Do with one request of its own
// memory, as the core does.
type caller struct {
	key    string
	cancel context.CancelFunc
	req    []driver.Request
	ans    []driver.Answer
	done   chan error
}

// start calls s.Do on a goroutine of its own with a request of op on key
// (decimal, see answer), in a context marked with key.
func start(t *testing.T, s *Store, op driver.Op, key string) *caller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, key))
	t.Cleanup(cancel)
	c := &caller{key: key, cancel: cancel, done: make(chan error, 1),
		req: []driver.Request{{Op: op, Needs: []driver.Need{{Key: key, N: 1, T: 1, Tau: 1}}, MaxWait: 1}},
		ans: []driver.Answer{{Needs: make([]driver.NeedAnswer, 0, 1)}}}
	go func() { c.done <- s.Do(ctx, c.req, c.ans) }()
	return c
}

// busy starts an Allow of "1" on s and waits until it is in flight at f
// (the fake under s), so that the callers started next queue; release
// grants it and waits for its caller's answer.
func busy(t *testing.T, s *Store, f *fakeStore) (release func()) {
	t.Helper()
	a := start(t, s, driver.Allow, "1")
	first := f.next(t)
	return func() {
		t.Helper()
		first.grant()
		a.granted(t)
	}
}

// startQueued starts a caller and waits until it is in s's queue, as the
// queue's n-th; the callers started so queue in the order started.
func startQueued(t *testing.T, s *Store, op driver.Op, key string, n int) *caller {
	t.Helper()
	c := start(t, s, op, key)
	waitQueued(t, s, n)
	return c
}

// waitQueued waits until s's queue holds n requests. It polls (bounded):
// a caller's arrival in the queue has no signal of its own, and nothing
// else orders the callers.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		got := len(s.queue)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue holds %d requests after %s, want %d", got, wait, n)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// waitIdle waits until s has nothing in flight (polled, bounded: the
// sender finds its queue empty after its last batch returned).
func waitIdle(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		busy := s.active > 0 || s.senders > 0 || len(s.queue) > 0
		s.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Store is still busy after %s", wait)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// result waits for c's call to return and gives its error.
func (c *caller) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(wait):
		t.Fatalf("caller %s did not return in %s", c.key, wait)
		return nil
	}
}

// granted waits for c's call and checks that it got its own answer (see
// answer).
func (c *caller) granted(t *testing.T) {
	t.Helper()
	if err := c.result(t); err != nil {
		t.Fatalf("caller %s: %v", c.key, err)
	}
	a := c.ans[0]
	n := number(c.key)
	if !a.OK || len(a.Needs) != 1 || a.Needs[0].Remaining != n || a.Needs[0].ResetAfter != n {
		t.Fatalf("caller %s got %+v, want its own answer (Remaining %d)", c.key, a, n)
	}
	if c.req[0].Op == driver.Reserve && (a.Wait != n || a.Undo != "undo-"+c.key) {
		t.Fatalf("caller %s got %+v, want Wait %d and Undo %q", c.key, a, n, "undo-"+c.key)
	}
}

// running fails t if c's call has returned.
func (c *caller) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.done:
		t.Fatalf("caller %s returned (%v) before its answer", c.key, err)
	default:
	}
}

// newStore returns a Store on inner that the test closes.
func newStore(t *testing.T, inner driver.Store, o Options) *Store {
	t.Helper()
	s, err := New(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newBatching is a Store (newStore) over a new fake store with the
// Batcher capability.
func newBatching(t *testing.T, o Options) (*fakeStore, *Store) {
	t.Helper()
	f := newFake()
	return f, newStore(t, batchStore{f}, o)
}

// checkCall fails t unless c came through DoBatch when batched, from the
// sender (fromSender) or its caller's goroutine, with requests of keys in
// that order.
func checkCall(t *testing.T, c *call, batched, fromSender bool, keys ...string) {
	t.Helper()
	if c.batched != batched {
		t.Errorf("call %q: through DoBatch %v, want %v", c.keys, c.batched, batched)
	}
	if (c.caller == nil) != fromSender {
		t.Errorf("call %q: in the context of caller %v, want from the sender %v", c.keys, c.caller, fromSender)
	}
	if !fromSender && c.caller != keys[0] {
		t.Errorf("call %q: in the context of caller %v, want %s's", c.keys, c.caller, keys[0])
	}
	if len(c.keys) != len(keys) {
		t.Fatalf("call holds %q, want %q", c.keys, keys)
	}
	for i := range keys {
		if c.keys[i] != keys[i] {
			t.Fatalf("call holds %q, want %q (in that order)", c.keys, keys)
		}
	}
}

// expect returns the next call f received, checked by checkCall.
func (f *fakeStore) expect(t *testing.T, batched, fromSender bool, keys ...string) *call {
	t.Helper()
	c := f.next(t)
	checkCall(t, c, batched, fromSender, keys...)
	return c
}

// checkStats fails t unless s counted requests and roundTrips.
func checkStats(t *testing.T, s *Store, requests, roundTrips int64) {
	t.Helper()
	if got := s.Stats(); got != (driver.Stats{Requests: requests, RoundTrips: roundTrips}) {
		t.Errorf("Stats %+v, want %d requests in %d round trips", got, requests, roundTrips)
	}
}

// oneInFlight fails t if f ever had two calls in flight at once.
func oneInFlight(t *testing.T, f *fakeStore) {
	t.Helper()
	if m := f.maxInflight.Load(); m > 1 {
		t.Errorf("the store had %d calls in flight at once, want one at a time", m)
	}
}

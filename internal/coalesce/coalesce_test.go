package coalesce

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// A call finding nothing in flight goes at once through Do, in its
// caller's context (on its goroutine), not through DoBatch and without
// starting the sender.
func TestAloneGoesAtOnce(t *testing.T) {
	f, s := newBatching(t, Options{})
	a := start(t, s, driver.Allow, "1")
	c := f.expect(t, false, false, "1")
	a.running(t)
	c.grant()
	a.granted(t)
	s.mu.Lock()
	started, busy := s.senders > 0, s.active > 0
	s.mu.Unlock()
	if started || busy {
		t.Errorf("after one call alone: sender started %v, busy %v; want neither", started, busy)
	}
	checkStats(t, s, 1, 1)
}

// Calls arriving while one is in flight queue and go together, in arrival
// order, as the next batch, through DoBatch from the sender; each caller
// gets its own answer.
func TestQueuedGoAsNextBatchInOrder(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	var queued []*caller
	for i, k := range []string{"2", "3", "4", "5"} {
		op := driver.Allow
		if i%2 == 1 {
			op = driver.Reserve
		}
		queued = append(queued, startQueued(t, s, op, k, i+1))
	}
	f.idle(t)
	for _, q := range queued {
		q.running(t)
	}
	release()
	b := f.expect(t, true, true, "2", "3", "4", "5")
	if b.ctx.Err() != nil {
		t.Errorf("the batch's context ended: %v", b.ctx.Err())
	}
	b.grant()
	for _, q := range queued {
		q.granted(t)
	}
	checkStats(t, s, 5, 2)
	oneInFlight(t, f)
}

// A batch of one request goes through Do (a store's path for a request
// alone), from the sender.
func TestBatchOfOneGoesThroughDo(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Reserve, "2", 1)
	release()
	c := f.expect(t, false, true, "2")
	c.grant()
	b.granted(t)
	checkStats(t, s, 2, 2)
}

// A store without DoBatch gets every batch through Do.
func TestWithoutBatcherBatchesGoThroughDo(t *testing.T) {
	f := newFake()
	s := newStore(t, f, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Allow, "2", 1)
	c := startQueued(t, s, driver.Status, "3", 2)
	release()
	batch := f.expect(t, false, true, "2", "3")
	batch.grant()
	b.granted(t)
	c.granted(t)
}

// One batch is in flight at a time: calls arriving meanwhile wait for it,
// and batches never exceed Max, the queue going out in order over as many
// batches as it takes.
func TestMaxAndOneBatchInFlight(t *testing.T) {
	f, s := newBatching(t, Options{Max: 2})
	release := busy(t, s, f)
	var cs []*caller
	for i, k := range []string{"2", "3", "4", "5", "6"} {
		cs = append(cs, startQueued(t, s, driver.Allow, k, i+1))
	}
	release()

	b1 := f.expect(t, true, true, "2", "3")
	// While b1 is in flight, 4, 5 and 6 stay queued and one more joins.
	cs = append(cs, startQueued(t, s, driver.Allow, "7", 4))
	f.idle(t)
	b1.grant()
	cs[0].granted(t)
	cs[1].granted(t)

	b2 := f.expect(t, true, true, "4", "5")
	f.idle(t)
	cs[4].running(t)
	b2.grant()
	b3 := f.expect(t, true, true, "6", "7")
	b3.grant()
	for _, c := range cs[2:] {
		c.granted(t)
	}
	checkStats(t, s, 7, 4)
	oneInFlight(t, f)
}

// A failed batch gives every caller in it the store's error; a request's
// own error reaches its caller only.
func TestFailedBatch(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Allow, "2", 1)
	c := startQueued(t, s, driver.Reserve, "3", 2)
	release()
	boom := errors.New("store down")
	f.next(t).fail(boom)
	for _, x := range []*caller{b, c} {
		if err := x.result(t); !errors.Is(err, boom) {
			t.Errorf("caller %s of the failed batch: %v, want the store's error", x.key, err)
		}
	}

	// A request's own error, in a batch that went through.
	d := start(t, s, driver.Allow, "4")
	alone := f.next(t)
	e := startQueued(t, s, driver.Allow, "5", 1)
	g := startQueued(t, s, driver.Allow, "6", 2)
	alone.grant()
	d.granted(t)
	own := errors.New("keys in different slots")
	batch := f.next(t)
	grant := batch.granted()
	batch.reply <- func(answers []driver.Answer) error {
		grant(answers)
		answers[0] = driver.Answer{Err: own}
		return nil
	}
	if err := e.result(t); err != nil || !errors.Is(e.ans[0].Err, own) {
		t.Errorf("caller 5: %v, answer %+v; want its own Answer.Err", err, e.ans[0])
	}
	g.granted(t)
}

// Off sends every call at once through Do, in its caller's context, even
// while another is in flight; they still count.
func TestOff(t *testing.T) {
	f, s := newBatching(t, Options{Off: true})
	a := start(t, s, driver.Allow, "1")
	ca := f.next(t)
	b := start(t, s, driver.Reserve, "2")
	cb := f.next(t)
	checkCall(t, ca, false, false, "1")
	checkCall(t, cb, false, false, "2")
	if got := f.inflight.Load(); got != 2 {
		t.Errorf("with Off, %d calls in flight, want both", got)
	}
	cb.grant()
	b.granted(t)
	ca.grant()
	a.granted(t)
	checkStats(t, s, 2, 2)
}

// Linger takes every call through the sender and DoBatch, even alone.
func TestLinger(t *testing.T) {
	f, s := newBatching(t, Options{Linger: time.Microsecond})
	a := start(t, s, driver.Allow, "1")
	c := f.expect(t, true, true, "1")
	b := startQueued(t, s, driver.Reserve, "2", 1)
	c.grant()
	a.granted(t)
	c = f.next(t)
	checkCall(t, c, true, true, "2")
	c.grant()
	b.granted(t)
	checkStats(t, s, 2, 2)
}

// Do given several requests decides each as a call of its own, in order.
func TestDoSeveral(t *testing.T) {
	f := newFake()
	s := newStore(t, f, Options{})
	ctx := context.Background()
	reqs := []driver.Request{
		{Op: driver.Allow, Needs: []driver.Need{{Key: "1", N: 1, T: 1, Tau: 1}}},
		{Op: driver.Status, Needs: []driver.Need{{Key: "2", N: 1, T: 1, Tau: 1}}},
	}
	ans := make([]driver.Answer, 2)
	done := make(chan error, 1)
	go func() { done <- s.Do(ctx, reqs, ans) }()
	for _, k := range []string{"1", "2"} {
		c := f.next(t)
		checkCall(t, c, false, true, k) // the context is not a marked caller's
		c.grant()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, a := range ans {
		if !a.OK || len(a.Needs) != 1 || a.Needs[0].Remaining != int64(i+1) {
			t.Errorf("answer %d: %+v", i, a)
		}
	}
	checkStats(t, s, 2, 2)
}

// Check is passed on to an inner Checker, request and error; without one,
// every request passes.
func TestCheck(t *testing.T) {
	errSlots := errors.New("keys a and b are in different slots")
	inner := &checkStore{fakeStore: newFake(), err: errSlots}
	s := newStore(t, inner, Options{})
	r := &driver.Request{Op: driver.Allow}
	if err := s.Check(r); !errors.Is(err, errSlots) || inner.got != r {
		t.Errorf("Check: %v, inner saw %p; want the inner error for %p", err, inner.got, r)
	}
	plain := newStore(t, newFake(), Options{})
	if err := plain.Check(r); err != nil {
		t.Errorf("Check without an inner Checker: %v", err)
	}
	if plain.Inner() == nil {
		t.Error("Inner is nil")
	}
}

// New refuses a nil store and negative options, naming them.
func TestNewBadInput(t *testing.T) {
	tests := []struct {
		name  string
		inner driver.Store
		o     Options
		want  string
	}{
		{"nil store", nil, Options{}, "nil store"},
		{"negative Max", newFake(), Options{Max: -1}, "Max -1"},
		{"negative Linger", newFake(), Options{Linger: -time.Second}, "Linger -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.inner, tt.o)
			if s != nil || !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, %v; want ErrInvalidArgument naming %q", s, err, tt.want)
			}
		})
	}
}

package coalesce

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// wait bounds every wait of these tests for something that must happen: a
// hang fails the test instead of stalling it.
const wait = 10 * time.Second

// ctxKey marks a caller's context, so that the fake store can tell a
// request sent on its caller's goroutine (its context) from one the sender
// sent (the Store's context).
type ctxKey struct{}

// call is one Do or DoBatch the fake store received. The test reads it
// from fakeStore.calls and answers it with reply; the store's goroutine
// blocks until then (or until the call's context ends).
type call struct {
	ctx     context.Context
	caller  any              // the ctxKey value of ctx: nil from the sender
	batched bool             // through DoBatch
	ops     []driver.Op      // the requests' operations, read on arrival
	keys    []string         // their first needs' keys ("" for Cancel)
	undos   []any            // their Undos
	reqs    []driver.Request // the batch as given (read only before reply)
	answers []driver.Answer  // where the answers go
	reply   chan func([]driver.Answer) error
}

// fakeStore is an inner driver.Store whose every call blocks on a channel
// the test controls. It counts calls in flight at once and Closes.
type fakeStore struct {
	calls                 chan *call
	inflight, maxInflight atomic.Int64
	closes                atomic.Int64
}

func newFake() *fakeStore { return &fakeStore{calls: make(chan *call, 1024)} }

func (f *fakeStore) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	return f.do(ctx, false, batch, answers)
}

func (f *fakeStore) Close() error {
	f.closes.Add(1)
	return nil
}

func (f *fakeStore) do(ctx context.Context, batched bool, batch []driver.Request, answers []driver.Answer) error {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	c := &call{ctx: ctx, caller: ctx.Value(ctxKey{}), batched: batched, reqs: batch, answers: answers,
		reply: make(chan func([]driver.Answer) error, 1)}
	for _, r := range batch {
		c.ops = append(c.ops, r.Op)
		k := ""
		if len(r.Needs) > 0 {
			k = r.Needs[0].Key
		}
		c.keys = append(c.keys, k)
		c.undos = append(c.undos, r.Undo)
	}
	f.calls <- c
	select {
	case fn := <-c.reply:
		return fn(answers)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchStore is a fakeStore with the Batcher capability.
type batchStore struct{ *fakeStore }

func (b batchStore) DoBatch(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	return b.do(ctx, true, batch, answers)
}

// checkStore is a fakeStore with the Checker capability.
type checkStore struct {
	*fakeStore
	err error
	got *driver.Request
}

func (c *checkStore) Check(r *driver.Request) error {
	c.got = r
	return c.err
}

// next returns the next call the store received.
func (f *fakeStore) next(t *testing.T) *call {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(wait):
		t.Fatalf("no call reached the store in %s", wait)
		return nil
	}
}

// idle fails t if a call is waiting in the store's channel now.
func (f *fakeStore) idle(t *testing.T) {
	t.Helper()
	select {
	case c := <-f.calls:
		t.Fatalf("unexpected call reached the store: %v %q", c.ops, c.keys)
	default:
	}
}

// serve answers every call with reply until ctx ends; the returned
// function waits for it to stop.
func (f *fakeStore) serve(ctx context.Context, reply func(c *call) func([]driver.Answer) error) (stopped func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case c := <-f.calls:
				c.reply <- reply(c)
			case <-ctx.Done():
				return
			}
		}
	})
	return wg.Wait
}

// grant answers each request of c as granted (see answer).
func (c *call) grant() { c.reply <- c.granted() }

// granted is the reply that grants each request of c (see answer).
func (c *call) granted() func([]driver.Answer) error {
	return func(answers []driver.Answer) error {
		for i := range answers {
			answer(&answers[i], c.ops[i], c.keys[i])
		}
		return nil
	}
}

// fail answers c with err for the whole batch.
func (c *call) fail(err error) {
	c.reply <- func([]driver.Answer) error { return err }
}

// answer grants a request of op on key: its need's Remaining and
// ResetAfter, and a Reserve's Wait, are the number the key spells (keys
// are decimal), so that each caller can tell its own answer; a Reserve
// gets Undo "undo-KEY". It appends into the Needs it is given, as the real
// stores do.
func answer(a *driver.Answer, op driver.Op, key string) {
	n := number(key)
	a.OK = true
	switch op {
	case driver.Reserve:
		a.Wait, a.Undo = n, "undo-"+key
	case driver.Cancel:
		return
	}
	a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: n, ResetAfter: n})
}

// number is the number a request's key spells, -1 if none.
func number(key string) int64 {
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

package coalesce

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// checkedStore is an inner store that checks, on every call, what a Store
// with several batches in flight promises: two calls in flight never share
// a key; a call holding a Cancel (a barrier) is alone in flight; no request
// is sent while an earlier one on one of its keys, or an earlier barrier,
// is still queued. A request's id is its Hold (its Undo for a Cancel), and
// the test gives ids in arrival order. Reserves are granted with Undo =
// their id; every few calls fail as a whole.
type checkedStore struct {
	s *Store // set before the first call

	mu       sync.Mutex
	keys     map[string]int // in flight
	calls    int            // in flight
	barrier  bool           // a call with a Cancel is in flight
	errs     []string
	granted  map[int64]bool // Reserves granted, by id
	seen     map[int64]bool // requests received, by id
	cancels  map[int64]int  // Cancels received, by Undo
	rng      *rand.Rand
	failures int
}

func (c *checkedStore) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// reqID is r's id: a user's Cancel has Undo -id, an orphan Cancel (the
// Store's, for a caller that left) the id of the Reserve, which it goes
// before everything queued after (orphan reports which).
func reqID(r *driver.Request) int64 {
	if r.Op == driver.Cancel {
		id, _ := r.Undo.(int64)
		if id < 0 {
			return -id
		}
		return id
	}
	return r.Hold
}

func orphan(r *driver.Request) bool {
	id, _ := r.Undo.(int64)
	return r.Op == driver.Cancel && id > 0
}

func (c *checkedStore) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	return c.do(ctx, batch, answers)
}

func (c *checkedStore) DoBatch(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	return c.do(ctx, batch, answers)
}

func (c *checkedStore) Close() error { return nil }

func (c *checkedStore) do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	// What is still queued, in the Store's own order.
	c.s.mu.Lock()
	var queued []driver.Request
	for _, w := range c.s.queue {
		// A copy of its own: a caller leaving recycles its waiter.
		q := w.req
		q.Needs = append([]driver.Need(nil), q.Needs...)
		queued = append(queued, q)
	}
	c.s.mu.Unlock()

	c.mu.Lock()
	hasBarrier := false
	for i := range batch {
		r := &batch[i]
		if barrier(r) {
			hasBarrier = true
		}
		for _, nd := range r.Needs {
			if c.keys[nd.Key] > 0 {
				c.errorf("request %d on key %s sent while another call on it is in flight", reqID(r), nd.Key)
			}
		}
		for j := range queued {
			q := &queued[j]
			if orphan(q) {
				// Queued first, maybe after this batch was
				// taken: the snapshot cannot tell.
				continue
			}
			if reqID(q) >= reqID(r) {
				continue
			}
			if barrier(q) {
				c.errorf("request %d sent while the earlier Cancel %d is queued", reqID(r), reqID(q))
			}
			for _, a := range q.Needs {
				for _, b := range r.Needs {
					if a.Key == b.Key {
						c.errorf("request %d on key %s sent before the earlier %d, still queued", reqID(r), a.Key, reqID(q))
					}
				}
			}
		}
	}
	if c.barrier || (hasBarrier && c.calls > 0) {
		c.errorf("a Cancel in flight beside another call (%d in flight)", c.calls)
	}
	for i := range batch {
		r := &batch[i]
		c.seen[reqID(r)] = true
		if orphan(r) {
			c.cancels[reqID(r)]++ // sent: whether it fails is the store's
		}
	}
	c.calls++
	c.barrier = c.barrier || hasBarrier
	for i := range batch {
		for _, nd := range batch[i].Needs {
			c.keys[nd.Key]++
		}
	}
	delay := time.Duration(c.rng.IntN(300)) * time.Microsecond
	fail := c.rng.IntN(20) == 0
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		c.calls--
		if hasBarrier {
			c.barrier = false
		}
		for i := range batch {
			for _, nd := range batch[i].Needs {
				c.keys[nd.Key]--
			}
		}
		c.mu.Unlock()
	}()
	for start := time.Now(); time.Since(start) < delay; {
		runtime.Gosched()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fail {
		c.failures++
		return errors.New("fake failure")
	}
	for i := range batch {
		r := &batch[i]
		id := reqID(r)
		a := &answers[i]
		a.OK = true
		switch r.Op {
		case driver.Reserve:
			a.Wait, a.Undo = id, id
			c.granted[id] = true
		case driver.Cancel:
			continue
		}
		a.Needs = append(a.Needs[:0], driver.NeedAnswer{Remaining: id, ResetAfter: id})
	}
	return nil
}

// inQueue reports whether the request of id is in s's queue.
func inQueue(s *Store, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.queue {
		if reqID(&w.req) == id {
			return true
		}
	}
	return false
}

// With several batches in flight, under random interleavings (random
// keys, composites, Cancels, contexts ending at every stage, failing
// batches): the checkedStore's promises hold; every caller returns with
// its own answer or an error; a Reservation granted whose caller left is
// given back exactly once, and one its caller kept never; nothing stays
// queued or in flight once every caller returned.
func TestInFlightRandom(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { inFlightRandom(t, uint64(seed)) })
	}
}

func inFlightRandom(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 17))
	inner := &checkedStore{keys: map[string]int{}, granted: map[int64]bool{}, seen: map[int64]bool{}, cancels: map[int64]int{},
		rng: rand.New(rand.NewPCG(seed, 18))}
	o := Options{InFlight: 2 + rng.IntN(3), Max: 1 + rng.IntN(6)}
	if rng.IntN(3) == 0 {
		o.Linger = 1 // every call through a sender
	}
	s, err := New(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	inner.s = s
	const requests = 150
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		kept = map[int64]bool{} // Reserves whose callers got them
		left = map[int64]bool{} // Reserves whose callers returned an error
	)
	keys := []string{"a", "b", "c", "d", "e"}
	for id := int64(1); id <= requests; id++ {
		op := []driver.Op{driver.Allow, driver.Reserve, driver.Reserve, driver.Status, driver.Cancel}[rng.IntN(5)]
		req := driver.Request{Op: op, Hold: id, MaxWait: 1}
		if op == driver.Cancel {
			req.Undo = -id // a user's Cancel of nothing the store granted
		} else {
			n := 1
			if op != driver.Status {
				n = 1 + rng.IntN(3)
			}
			for _, k := range rng.Perm(len(keys))[:n] {
				req.Needs = append(req.Needs, driver.Need{Key: keys[k], N: 1, T: 1, Tau: 1})
			}
		}
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		switch rng.IntN(4) {
		case 0:
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(500))*time.Microsecond)
		case 1:
			ctx, cancel = context.WithCancel(ctx)
			d := time.Duration(rng.IntN(500)) * time.Microsecond
			time.AfterFunc(d, cancel)
		}
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			defer cancel()
			ans := []driver.Answer{{Needs: make([]driver.NeedAnswer, 0, 1)}}
			err := s.Do(ctx, []driver.Request{req}, ans)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil && err.Error() != "fake failure" {
					t.Errorf("request %d: %v, neither its context's end nor the store's error", id, err)
				}
				if req.Op == driver.Reserve {
					left[id] = true
				}
				return
			}
			a := ans[0]
			reqID := reqID(&req)
			switch {
			case !a.OK:
				t.Errorf("request %d: not OK", id)
			case op == driver.Cancel:
			case len(a.Needs) != 1 || a.Needs[0].Remaining != reqID:
				t.Errorf("request %d got %+v, not its own answer", id, a)
			case op == driver.Reserve && (a.Wait != id || a.Undo != id):
				t.Errorf("request %d got Wait %d Undo %v, not its own", id, a.Wait, a.Undo)
			}
			if op == driver.Reserve {
				kept[id] = true
			}
		})
		// Arrivals in id order: the next starts once this one is queued,
		// sent or done.
		for deadline := time.Now().Add(wait); ; {
			select {
			case <-done:
			default:
				if !inQueue(s, id) && !sentOrAnswered(inner, s, id) {
					if time.Now().After(deadline) {
						t.Fatalf("request %d neither queued nor sent after %s", id, wait)
					}
					runtime.Gosched()
					continue
				}
			}
			break
		}
		if rng.IntN(3) == 0 {
			time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
		}
	}
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(wait):
		s.mu.Lock()
		t.Fatalf("callers still waiting after %s: queue %d, active %d, senders %d", wait, len(s.queue), s.active, s.senders)
	}
	waitIdle(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	inner.mu.Lock()
	defer inner.mu.Unlock()
	for _, e := range inner.errs {
		t.Error(e)
	}
	for id := range inner.granted {
		n := inner.cancels[id]
		switch {
		case kept[id] && n > 0:
			t.Errorf("reservation %d: its caller has it and it was cancelled %d times", id, n)
		case left[id] && n != 1:
			t.Errorf("reservation %d: its caller left and it was cancelled %d times, want once", id, n)
		}
	}
	t.Logf("InFlight %d Max %d Linger %s: %+v, %d failures, %d granted", o.InFlight, o.Max, o.Linger, s.Stats(), inner.failures, len(inner.granted))
}

// sentOrAnswered reports whether the inner store received the request of
// id (alone, its keys were marked in flight before).
func sentOrAnswered(c *checkedStore, s *Store, id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

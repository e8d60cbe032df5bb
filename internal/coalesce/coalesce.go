package coalesce

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// DefaultMax is the largest batch by default.
const DefaultMax = 128

// Batcher is the capability of a store whose path for a batch differs from
// the one of a request alone (Redis: one packed script for the batch, where
// a request alone runs redis_rate's own script). Store sends every batch it
// formed through DoBatch, and a request that goes alone through Do. A store
// without it gets every batch through Do.
type Batcher interface {
	DoBatch(ctx context.Context, batch []driver.Request, answers []driver.Answer) error
}

// Options configure a Store.
type Options struct {
	// Off sends every request at once through the inner store's Do, as
	// if the Store were not there (it still counts them).
	Off bool
	// Max is the largest batch: DefaultMax when 0.
	Max int
	// InFlight is how many batches may be in flight at once (1 when 0).
	// Batches in flight never share a key: a request whose key is in
	// flight waits for it, and so does every later request on its keys,
	// so that FIFO holds on each key. A store that decides one batch at
	// a time anyway (one SQLite connection) gains nothing from more.
	InFlight int
	// Linger, for tests, forces batches: every call queues, even when
	// nothing is in flight, and each batch waits Linger before it goes,
	// so that concurrent calls gather; every batch, even of one request,
	// goes through DoBatch.
	Linger time.Duration
}

// Store coalesces the requests given to it into batches for its inner
// store. It implements driver.Store, driver.Checker (passed on) and
// driver.StatsReporter.
type Store struct {
	inner    driver.Store
	batcher  Batcher
	checker  driver.Checker
	off      bool
	max      int
	inFlight int
	linger   time.Duration

	requests, roundTrips atomic.Int64

	mu      sync.Mutex
	queue   []*waiter // in arrival order
	active  int       // requests alone and batches in flight
	senders int       // sender goroutines running
	sending int       // senders with a batch in flight
	// busy counts, per key, the requests alone and batches in flight
	// that touch it.
	busy map[string]int
	// barriers counts the requests in flight that name no key.
	barriers int
	closed   bool
	wg       sync.WaitGroup // the senders
	// late are the cancels for callers that left (orphans) that Close
	// found queued or that a batch returning during Close made: Close
	// sends them before it closes the inner store.
	late []*waiter

	// ctx is the context of the batches: it ends when Close starts.
	ctx    context.Context
	cancel context.CancelFunc

	// scratch of the batch being formed (s.mu held)
	blocked map[string]bool
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Checker       = (*Store)(nil)
	_ driver.StatsReporter = (*Store)(nil)
)

// New returns a Store coalescing the requests of inner.
func New(inner driver.Store, o Options) (*Store, error) {
	if inner == nil {
		return nil, fmt.Errorf("coalesce: nil store: %w", limiter.ErrInvalidArgument)
	}
	if o.Max < 0 || o.InFlight < 0 || o.Linger < 0 {
		return nil, fmt.Errorf("coalesce: Max %d, InFlight %d and Linger %s must not be negative: %w",
			o.Max, o.InFlight, o.Linger, limiter.ErrInvalidArgument)
	}
	s := &Store{inner: inner, off: o.Off, max: o.Max, inFlight: o.InFlight, linger: o.Linger,
		busy: map[string]int{}, blocked: map[string]bool{}}
	if s.max == 0 {
		s.max = DefaultMax
	}
	if s.inFlight == 0 {
		s.inFlight = 1
	}
	s.batcher, _ = inner.(Batcher)
	s.checker, _ = inner.(driver.Checker)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Inner returns the store the Store sends to.
func (s *Store) Inner() driver.Store { return s.inner }

// Check implements driver.Checker by asking the inner store, when it can.
func (s *Store) Check(r *driver.Request) error {
	if s.checker == nil {
		return nil
	}
	return s.checker.Check(r)
}

// Stats implements driver.StatsReporter: the requests given to the Store
// and the round trips (requests alone and batches) it sent for them.
func (s *Store) Stats() driver.Stats {
	return driver.Stats{Requests: s.requests.Load(), RoundTrips: s.roundTrips.Load()}
}

// barrier reports whether r names no key the Store can see (a Cancel: its
// keys are in its Undo), so that it must go with nothing else in flight.
func barrier(r *driver.Request) bool { return len(r.Needs) == 0 }

// free reports whether r could go now: its keys not in flight (s.mu
// held).
func (s *Store) free(r *driver.Request) bool {
	if barrier(r) {
		return s.active == 0
	}
	if s.barriers > 0 {
		return false
	}
	for _, nd := range r.Needs {
		if s.busy[nd.Key] > 0 {
			return false
		}
	}
	return true
}

// mark counts r's keys in flight (d = 1) or out of it (d = -1) (s.mu
// held).
func (s *Store) mark(r *driver.Request, d int) {
	if barrier(r) {
		s.barriers += d
	}
	for _, nd := range r.Needs {
		if n := s.busy[nd.Key] + d; n > 0 {
			s.busy[nd.Key] = n
		} else {
			delete(s.busy, nd.Key)
		}
	}
}

// Do implements driver.Store: batch[0] (the core sends one request at a
// time; several are queued one after another) goes alone when nothing
// else waits and its keys are not in flight, or in a later batch.
func (s *Store) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	if len(batch) != 1 {
		for i := range batch {
			if err := s.Do(ctx, batch[i:i+1], answers[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	s.requests.Add(1)
	if s.off {
		s.roundTrips.Add(1)
		return s.inner.Do(ctx, batch, answers)
	}
	r := &batch[0]
	s.mu.Lock()
	if s.closed {
		// A Cancel racing with Close: the inner store answers it (or
		// says it is closed).
		s.mu.Unlock()
		s.roundTrips.Add(1)
		return s.inner.Do(ctx, batch, answers)
	}
	if s.linger == 0 && len(s.queue) == 0 && s.active < s.inFlight && s.free(r) {
		s.active++
		s.mark(r, 1)
		s.mu.Unlock()
		s.roundTrips.Add(1)
		err := s.inner.Do(ctx, batch, answers)
		s.mu.Lock()
		s.active--
		s.mark(r, -1)
		s.startSender()
		s.mu.Unlock()
		return err
	}
	w := getWaiter(r)
	s.queue = append(s.queue, w)
	s.startSender()
	s.mu.Unlock()
	select {
	case <-w.done:
		return w.deliver(answers)
	case <-ctx.Done():
	}
	s.mu.Lock()
	switch w.state {
	case queued:
		s.unqueue(w)
		s.mu.Unlock()
		putWaiter(w)
		return fmt.Errorf("limiter: %s: %w", r.Op, ctx.Err())
	case sent:
		// The sender owns w now, and cancels a reservation granted to
		// it.
		w.state = abandoned
		s.mu.Unlock()
		return fmt.Errorf("limiter: %s: %w", r.Op, ctx.Err())
	}
	s.mu.Unlock()
	<-w.done // answered: its signal is on the way
	return w.deliver(answers)
}

// startSender starts a sender when none is idle (about to take a batch),
// the queue's first request could go, and a batch more may be in flight
// (s.mu held). A request that cannot go waits for the batch in flight on
// its keys, whose sender takes the next batch when it returns (a caller
// alone starts one then).
func (s *Store) startSender() {
	if len(s.queue) == 0 || s.closed || s.senders >= s.inFlight || s.active >= s.inFlight {
		return
	}
	if s.senders > s.sending || !s.free(&s.queue[0].req) {
		return
	}
	s.senders++
	s.wg.Add(1)
	go s.send()
}

// unqueue takes w out of the queue (s.mu held).
func (s *Store) unqueue(w *waiter) {
	for i, x := range s.queue {
		if x == w {
			copy(s.queue[i:], s.queue[i+1:])
			s.queue[len(s.queue)-1] = nil
			s.queue = s.queue[:len(s.queue)-1]
			return
		}
	}
}

// send is a sender: it sends batches, one at a time, while the queue holds
// requests whose keys are not in flight, then ends.
func (s *Store) send() {
	defer s.wg.Done()
	var b batchScratch
	for {
		if s.linger > 0 {
			// Yield rather than sleep: a timer of microseconds
			// fires milliseconds late on a loaded machine, and
			// forced batches are for tests that also measure time.
			for start := time.Now(); time.Since(start) < s.linger; {
				runtime.Gosched()
			}
		}
		s.mu.Lock()
		if !s.take(&b) {
			s.senders--
			s.mu.Unlock()
			return
		}
		s.sending++
		s.active++
		s.startSender() // another batch may go beside this one
		s.mu.Unlock()
		s.sendBatch(&b)
		b.reset()
		// Let the callers just answered run, and queue again if they
		// will, before the next batch forms: batches grow, round
		// trips fall (SQLite 1x8: 0.42 round trips per decision
		// without it, 0.18 with it).
		runtime.Gosched()
	}
}

// batchScratch is a sender's batch.
type batchScratch struct {
	ws   []*waiter
	reqs []driver.Request
	ans  []driver.Answer
}

func (b *batchScratch) reset() {
	clear(b.ws)
	clear(b.reqs)
	clear(b.ans)
	b.ws, b.reqs, b.ans = b.ws[:0], b.reqs[:0], b.ans[:0]
}

// take moves into b, in queue order, up to Max requests whose keys are
// not in flight and not named by an earlier request left in the queue (so
// that FIFO holds on every key), and counts their keys in flight; it
// reports false when it took none (s.mu held).
func (s *Store) take(b *batchScratch) bool {
	clear(s.blocked)
	if s.active >= s.inFlight {
		return false
	}
	others := s.active // requests alone and batches in flight
	// all: nothing more goes in this batch (a barrier left in the queue,
	// or one in flight).
	all := s.barriers > 0
	kept := s.queue[:0]
	for _, w := range s.queue {
		r := &w.req
		ok := !all && len(b.ws) < s.max
		if ok && barrier(r) {
			ok = others == 0 && len(s.blocked) == 0
		} else if ok {
			for _, nd := range r.Needs {
				if s.busy[nd.Key] > 0 || s.blocked[nd.Key] {
					ok = false
					break
				}
			}
		}
		if !ok {
			if barrier(r) {
				all = true
			}
			for _, nd := range r.Needs {
				s.blocked[nd.Key] = true
			}
			kept = append(kept, w)
			continue
		}
		w.state = sent
		b.ws = append(b.ws, w)
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	for _, w := range b.ws {
		s.mark(&w.req, 1)
		b.reqs = append(b.reqs, w.req)
		b.ans = append(b.ans, driver.Answer{Needs: w.na[:0]})
	}
	return len(b.ws) > 0
}

// sendBatch sends b and answers its callers.
func (s *Store) sendBatch(b *batchScratch) {
	s.roundTrips.Add(1)
	var err error
	switch {
	case s.batcher != nil && (len(b.reqs) > 1 || s.linger > 0):
		err = s.batcher.DoBatch(s.ctx, b.reqs, b.ans)
	default:
		err = s.inner.Do(s.ctx, b.reqs, b.ans)
	}
	if err != nil && s.ctx.Err() != nil {
		err = fmt.Errorf("limiter: %s: %w", b.reqs[0].Op, limiter.ErrClosed)
	}
	s.mu.Lock()
	// Its keys leave the flight before its callers are answered: a
	// request's Needs are its waiter's, which its caller recycles.
	for i := range b.reqs {
		s.mark(&b.reqs[i], -1)
	}
	s.sending--
	s.active--
	for i, w := range b.ws {
		switch {
		case w.orphan:
			w.state = abandoned // recycled below
		case w.state == abandoned:
			a := &b.ans[i]
			if err == nil && w.req.Op == driver.Reserve && a.Err == nil && a.OK && a.Undo != nil {
				o := getWaiter(&driver.Request{Op: driver.Cancel, Undo: a.Undo})
				o.orphan = true
				if s.closed {
					s.late = append(s.late, o)
					break
				}
				// First in the queue: it gives the slot back
				// before anything after it is decided.
				s.queue = append(s.queue, nil)
				copy(s.queue[1:], s.queue)
				s.queue[0] = o
			}
		default:
			w.state = answered
			w.ans, w.err = b.ans[i], err
		}
	}
	s.mu.Unlock()
	for _, w := range b.ws {
		if w.state == abandoned {
			putWaiter(w)
		} else {
			w.done <- struct{}{}
		}
	}
}

// Close implements driver.Store: queued callers get ErrClosed, the batches
// in flight end (their callers get ErrClosed), the reservations granted to
// callers that left are given back, and the inner store closes.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	queued := s.queue
	s.queue = nil
	for _, w := range queued {
		w.state = answered
		w.err = fmt.Errorf("limiter: %s: %w", w.req.Op, limiter.ErrClosed)
	}
	s.mu.Unlock()
	for _, w := range queued {
		if w.orphan {
			s.late = append(s.late, w)
		} else {
			w.done <- struct{}{}
		}
	}
	s.cancel()
	s.wg.Wait()
	// The senders have ended: late is Close's alone. A reservation
	// granted to a caller that left is given back as the core's own
	// give-backs of Close are (the inner store bounds the call).
	for _, o := range s.late {
		s.roundTrips.Add(1)
		_ = s.inner.Do(context.Background(), []driver.Request{o.req}, []driver.Answer{{}})
		putWaiter(o)
	}
	s.late = nil
	return s.inner.Close()
}

// The states of a waiter, under Store.mu.
const (
	queued    = iota // in the queue
	sent             // in the batch in flight
	abandoned        // sent, its caller gone: the sender recycles it
	answered         // its answer is in, its signal sent or on the way
)

// waiter is one queued request: a copy of the caller's (the caller's
// memory is its own again once it returns) and its answer.
type waiter struct {
	req    driver.Request
	needs  [4]driver.Need
	ans    driver.Answer
	na     [4]driver.NeedAnswer
	err    error
	state  int
	orphan bool          // a cancel the Store sends for a caller that left
	done   chan struct{} // one signal when answered (buffered 1)
}

var waiters = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}

func getWaiter(r *driver.Request) *waiter {
	w := waiters.Get().(*waiter)
	w.req = *r
	w.req.Needs = append(w.needs[:0], r.Needs...)
	w.state = queued
	return w
}

func putWaiter(w *waiter) {
	done := w.done
	*w = waiter{done: done}
	waiters.Put(w)
}

// deliver copies w's answer into the caller's answers[0] and recycles w.
func (w *waiter) deliver(answers []driver.Answer) error {
	err := w.err
	if err == nil {
		a := &answers[0]
		needs := append(a.Needs[:0], w.ans.Needs...)
		*a = w.ans
		a.Needs = needs
	}
	putWaiter(w)
	return err
}

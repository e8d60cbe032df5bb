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
	inner   driver.Store
	batcher Batcher
	checker driver.Checker
	off     bool
	max     int
	linger  time.Duration

	requests, roundTrips atomic.Int64

	mu      sync.Mutex
	busy    bool      // a request or a batch is in flight
	queue   []*waiter // in arrival order
	orphans []*waiter // cancels of reservations nobody waits for
	closed  bool
	started bool          // the sender runs
	wake    chan struct{} // the sender has work (buffered 1)
	stop    chan struct{} // closed by Close
	ended   chan struct{} // closed when the sender returns

	// ctx is the context of the batches: it ends when Close starts.
	ctx    context.Context
	cancel context.CancelFunc

	// The sender's scratch: one batch at a time.
	ws   []*waiter
	reqs []driver.Request
	ans  []driver.Answer
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
	if o.Max < 0 || o.Linger < 0 {
		return nil, fmt.Errorf("coalesce: Max %d and Linger %s must not be negative: %w", o.Max, o.Linger, limiter.ErrInvalidArgument)
	}
	s := &Store{inner: inner, off: o.Off, max: o.Max, linger: o.Linger,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), ended: make(chan struct{})}
	if s.max == 0 {
		s.max = DefaultMax
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

// Do implements driver.Store: batch[0] (the core sends one request at a
// time; several are queued one after another) goes alone when nothing is
// in flight, or in the next batch.
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
	s.mu.Lock()
	if s.closed {
		// A Cancel racing with Close: the inner store answers it (or
		// says it is closed).
		s.mu.Unlock()
		s.roundTrips.Add(1)
		return s.inner.Do(ctx, batch, answers)
	}
	if !s.busy && s.linger == 0 {
		s.busy = true
		s.mu.Unlock()
		s.roundTrips.Add(1)
		err := s.inner.Do(ctx, batch, answers)
		s.handOff()
		return err
	}
	w := getWaiter(&batch[0])
	s.queue = append(s.queue, w)
	if !s.busy {
		s.busy = true
		s.kick()
	}
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
		return fmt.Errorf("limiter: %s: %w", batch[0].Op, ctx.Err())
	case sent:
		// The sender owns w now, and cancels a reservation granted to
		// it.
		w.state = abandoned
		s.mu.Unlock()
		return fmt.Errorf("limiter: %s: %w", batch[0].Op, ctx.Err())
	}
	s.mu.Unlock()
	<-w.done // answered: its signal is on the way
	return w.deliver(answers)
}

// handOff ends a request that went alone: the sender takes over the
// requests that queued meanwhile.
func (s *Store) handOff() {
	s.mu.Lock()
	if len(s.queue) > 0 || len(s.orphans) > 0 {
		s.kick()
	} else {
		s.busy = false
	}
	s.mu.Unlock()
}

// kick wakes the sender, starting it the first time (s.mu held).
func (s *Store) kick() {
	if !s.started {
		s.started = true
		go s.send()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
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

// send is the sender: it sends the queue's batches, one at a time, until
// the queue is empty, then waits to be woken again.
func (s *Store) send() {
	defer close(s.ended)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
		for s.sendOne() {
		}
	}
}

// sendOne sends the next batch and answers its callers; it reports false,
// leaving the Store idle, when there was none.
func (s *Store) sendOne() bool {
	if s.linger > 0 {
		t := time.NewTimer(s.linger)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
		}
	}
	s.mu.Lock()
	ws := s.ws[:0]
	for len(ws) < s.max && len(s.orphans) > 0 {
		ws = append(ws, s.orphans[0])
		s.orphans = s.orphans[1:]
	}
	n := min(s.max-len(ws), len(s.queue))
	ws = append(ws, s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	if len(ws) == 0 {
		s.busy = false
		s.mu.Unlock()
		return false
	}
	for _, w := range ws {
		w.state = sent
	}
	s.mu.Unlock()

	reqs, ans := s.reqs[:0], s.ans[:0]
	for _, w := range ws {
		reqs = append(reqs, w.req)
		ans = append(ans, driver.Answer{Needs: w.na[:0]})
	}
	s.roundTrips.Add(1)
	var err error
	switch {
	case s.batcher != nil && (len(reqs) > 1 || s.linger > 0):
		err = s.batcher.DoBatch(s.ctx, reqs, ans)
	default:
		err = s.inner.Do(s.ctx, reqs, ans)
	}
	if err != nil && s.ctx.Err() != nil {
		err = fmt.Errorf("limiter: %s: %w", reqs[0].Op, limiter.ErrClosed)
	}

	s.mu.Lock()
	for i, w := range ws {
		switch {
		case w.orphan:
			w.state = abandoned // recycled below
		case w.state == abandoned:
			a := &ans[i]
			if err == nil && w.req.Op == driver.Reserve && a.Err == nil && a.OK && a.Undo != nil && !s.closed {
				s.orphans = append(s.orphans, getWaiter(&driver.Request{Op: driver.Cancel, Undo: a.Undo}))
				s.orphans[len(s.orphans)-1].orphan = true
			}
		default:
			w.state = answered
			w.ans, w.err = ans[i], err
		}
	}
	s.mu.Unlock()
	for i, w := range ws {
		if w.state == abandoned {
			putWaiter(w)
		} else {
			w.done <- struct{}{}
		}
		ws[i] = nil
	}
	clear(reqs)
	clear(ans)
	s.ws, s.reqs, s.ans = ws[:0], reqs[:0], ans[:0]
	// Let the callers just answered run before the next batch is
	// formed: those that call again at once join it, instead of the
	// batch after it.
	runtime.Gosched()
	return true
}

// Close implements driver.Store: queued callers get ErrClosed, the batch in
// flight ends (its callers get ErrClosed), and the inner store closes.
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
	orphans := s.orphans
	s.orphans = nil
	started := s.started
	s.mu.Unlock()
	for _, w := range queued {
		w.done <- struct{}{}
	}
	for _, w := range orphans {
		putWaiter(w)
	}
	s.cancel()
	close(s.stop)
	if started {
		<-s.ended
	}
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

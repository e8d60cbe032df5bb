package lifecycle

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Grace is how long Close waits, at most, for calls in flight and pinned
// reservations before it releases the store.
const Grace = 5 * time.Second

// Lifecycle is the open, closing and closed states of a Handle. The zero
// value is not ready: use New.
type Lifecycle struct {
	closedErr error // what Enter returns once Close started

	seq    atomic.Int64 // counts pins
	calls  atomic.Int64 // between Enter and Leave
	active atomic.Int64 // calls and pins
	closed atomic.Bool
	once   sync.Once
	done   chan struct{}
	ended  chan struct{} // holds a wake-up once a call or pin ended after Close started

	mu   sync.Mutex
	pins map[*Pin]struct{}
}

// New returns an open Lifecycle whose Enter fails with closedErr once
// Close started.
func New(closedErr error) *Lifecycle {
	return &Lifecycle{closedErr: closedErr, done: make(chan struct{}), ended: make(chan struct{}, 1), pins: make(map[*Pin]struct{})}
}

// Enter starts a call; it fails with the closed error once Close started.
// A nil error must be paired with Leave.
func (l *Lifecycle) Enter() error {
	l.calls.Add(1)
	l.active.Add(1)
	if l.closed.Load() {
		l.Leave()
		return l.closedErr
	}
	return nil
}

// EnterContext is Enter that also fails, with ctx's error, when ctx has
// ended. A nil error must be paired with Leave.
func (l *Lifecycle) EnterContext(ctx context.Context) error {
	if err := l.Enter(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		l.Leave()
		return err
	}
	return nil
}

// Leave ends a call started by Enter.
func (l *Lifecycle) Leave() {
	l.active.Add(-1)
	l.calls.Add(-1)
	l.wake()
}

// wake tells a Close waiting for calls or pins to end that one did. A
// decrement that reads closed as false came before Close set it, so Close's
// own first count sees it; one that reads true leaves a wake-up in ended.
func (l *Lifecycle) wake() {
	if l.closed.Load() {
		select {
		case l.ended <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// waitZero waits until n is 0 or ctx ends.
func (l *Lifecycle) waitZero(ctx context.Context, n *atomic.Int64) {
	for n.Load() > 0 {
		select {
		case <-l.ended:
		case <-ctx.Done():
			return
		}
	}
}

// Pin is a reservation that keeps Close from releasing the store until it
// is used, given back, or its slot comes.
type Pin struct {
	l        *Lifecycle
	order    int64
	seq      int64 // pins of equal order go back newest pinned first
	once     sync.Once
	timer    *time.Timer
	giveBack func(context.Context) error
	again    func(context.Context) bool
}

// Pin keeps Close from releasing the store until the returned Pin is
// released or d has passed (the slot of a reservation came, so there is
// nothing to give back). order is the slot's place in its key's queue (its
// stored time): Close gives pinned slots back in decreasing order, so that
// the cancels of one handle's queue chain (each gives back to the value the
// next one restores). It is called inside Enter/Leave; GiveBack must be
// called before the reservation reaches its caller.
func (l *Lifecycle) Pin(d time.Duration, order int64) *Pin {
	l.active.Add(1)
	p := &Pin{l: l, order: order, seq: l.seq.Add(1)}
	l.mu.Lock()
	p.timer = time.AfterFunc(d, p.Release)
	l.mu.Unlock()
	return p
}

// GiveBack registers how Close gives the slot back while it is still
// pinned (a Reservation's Cancel, which does it at most once).
func (p *Pin) GiveBack(f func(context.Context) error) {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	p.giveBack = f
	p.l.pins[p] = struct{}{}
}

// Again registers how Close gives the slot back again after every pinned
// slot was given back once: on the keys a later slot of this handle still
// held the first time, and which the later slot's give-back has since
// restored to this slot's own write. It reports whether it gave any key
// back. (Orders of stores can be ambiguous between slots of one key and
// of several keys; a give-back is a compare-and-set per key, so giving
// back again is harmless.)
func (p *Pin) Again(f func(context.Context) bool) {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	p.again = f
}

// Release ends the pin; later calls do nothing.
func (p *Pin) Release() {
	p.once.Do(func() {
		p.l.mu.Lock()
		p.timer.Stop()
		delete(p.l.pins, p)
		p.l.mu.Unlock()
		p.l.active.Add(-1)
		p.l.wake()
	})
}

// Closed reports whether Close started.
func (l *Lifecycle) Closed() bool { return l.closed.Load() }

// Done is closed when Close starts giving pinned slots back.
func (l *Lifecycle) Done() <-chan struct{} { return l.done }

// Close marks the Lifecycle closed, waits for the calls in flight (so that
// every reservation granted is pinned), gives the pinned slots back newest
// first (one at a time, so that their cancels chain), wakes waiters through
// Done, waits for the pins left to end, all within Grace, then runs release
// once. Later calls return nil at once.
func (l *Lifecycle) Close(release func() error) error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), Grace)
		defer cancel()
		l.waitZero(ctx, &l.calls)
		l.giveBackPinned(ctx)
		close(l.done)
		l.waitZero(ctx, &l.active)
		if release != nil {
			err = release()
		}
	})
	return err
}

// giveBackPinned cancels the pinned reservations in decreasing order.
// Waiters whose slot comes meanwhile use it: a Reservation is used or given
// back, never both.
func (l *Lifecycle) giveBackPinned(ctx context.Context) {
	l.mu.Lock()
	pins := make([]*Pin, 0, len(l.pins))
	for p := range l.pins {
		pins = append(pins, p)
	}
	l.mu.Unlock()
	if len(pins) == 0 {
		return
	}
	slices.SortFunc(pins, func(a, b *Pin) int {
		if c := cmp.Compare(b.order, a.order); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	})
	for _, p := range pins {
		if ctx.Err() != nil {
			return
		}
		// A failed give-back leaves the slot taken: the limit is kept.
		_ = p.giveBack(ctx)
	}
	// Then again, in the same order, while a pass gives anything back: a
	// slot given back before a later one on a shared key (their orders
	// misranked) gets that key back once the later one restored it. Each
	// pass that gives back moves a key to an older write of this handle,
	// so there are at most as many passes as slots.
	l.mu.Lock()
	again := make([]func(context.Context) bool, 0, len(pins))
	for _, p := range pins {
		if p.again != nil {
			again = append(again, p.again)
		}
	}
	l.mu.Unlock()
	for range len(again) {
		progress := false
		for _, f := range again {
			if ctx.Err() != nil {
				return
			}
			if f(ctx) {
				progress = true
			}
		}
		if !progress {
			return
		}
	}
}

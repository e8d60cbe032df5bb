package lifecycle

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Grace is how long Close waits, at most, for calls in flight and pinned
// reservations before it releases the store.
const Grace = 5 * time.Second

// Lifecycle is embedded by value in a backend. The zero value is not ready:
// use New.
type Lifecycle struct {
	active atomic.Int64
	closed atomic.Bool
	once   sync.Once
	done   chan struct{}
}

// New returns an open Lifecycle.
func New() *Lifecycle { return &Lifecycle{done: make(chan struct{})} }

// Enter starts a call; it fails with limiter.ErrClosed once Close started.
// A nil error must be paired with Leave.
func (l *Lifecycle) Enter() error {
	l.active.Add(1)
	if l.closed.Load() {
		l.active.Add(-1)
		return limiter.ErrClosed
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
func (l *Lifecycle) Leave() { l.active.Add(-1) }

// Pin keeps Close from releasing the store until unpin is called or d has
// passed (the slot of a reservation came, so there is nothing to give back).
// It is called inside Enter/Leave.
func (l *Lifecycle) Pin(d time.Duration) (unpin func()) {
	l.active.Add(1)
	var once sync.Once
	release := func() { once.Do(func() { l.active.Add(-1) }) }
	t := time.AfterFunc(d, release)
	return func() { t.Stop(); release() }
}

// Closed reports whether Close started.
func (l *Lifecycle) Closed() bool { return l.closed.Load() }

// Done is closed when Close starts.
func (l *Lifecycle) Done() <-chan struct{} { return l.done }

// Close marks the Lifecycle closed, wakes waiters through Done, waits up to
// Grace for calls and pins to end, then runs release once. Later calls
// return nil at once.
func (l *Lifecycle) Close(release func() error) error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.done)
		deadline := time.Now().Add(Grace)
		for l.active.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if release != nil {
			err = release()
		}
	})
	return err
}

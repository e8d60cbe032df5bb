package limiter

import (
	"context"
	"sync"
	"time"
)

// Reservation is a slot taken by [Limiter.ReserveN].
type Reservation struct {
	// OK reports whether the slot was granted within the maximum wait.
	OK bool
	// Delay is how long to wait before acting on a granted slot.
	Delay time.Duration
	// Remaining is how many tokens are left after this slot (0 while
	// waiters queue).
	Remaining int
	// RetryAfter is, when not OK, the wait the slot would have needed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration

	at     time.Time // local time of the slot
	once   sync.Once // a slot is used or given back, never both
	given  bool      // Cancel gave the slot back (set under once)
	cancel func(context.Context) error
	// inner is the reservation this one wraps (the Guard's ledger around
	// a fallback's), whose own Cancel may run without this one's (its
	// backend's Close gives its pinned slots back): use asks it too.
	inner *Reservation
}

// NewReservation builds a granted Reservation; backends call it. cancel
// gives the slot back (compare-and-set on the token of the reservation's
// own write: only when no write came after it, and back to the exact value
// that write replaced) and is called at most once, and only before the
// slot's time.
func NewReservation(delay time.Duration, remaining int, resetAfter time.Duration, cancel func(context.Context) error) *Reservation {
	return &Reservation{OK: true, Delay: delay, Remaining: remaining, ResetAfter: resetAfter,
		at: time.Now().Add(delay), cancel: cancel}
}

// Cancel gives a granted slot back when its time has not come yet, so that
// the next request can have it. Any write to the key since this slot's (a
// slot taken after it, a Hold, a Reset) makes Cancel a no-op: a cancel
// never lets the limit be exceeded, and cancels run newest first give
// every slot back. Cancel on a
// refused reservation, after the slot's time, or a second time does nothing.
func (r *Reservation) Cancel(ctx context.Context) error {
	if r == nil || !r.OK || r.cancel == nil {
		return nil
	}
	var err error
	r.once.Do(func() {
		if time.Now().Before(r.at) {
			r.given = true
			err = r.cancel(ctx)
		}
	})
	return err
}

// use marks the slot used, so that a later Cancel (by Close, giving pinned
// slots back) does nothing. It reports false when the slot was given back
// first: then it must not be used.
func (r *Reservation) use() bool {
	if r == nil || r.cancel == nil {
		return true
	}
	r.once.Do(func() {})
	return !r.given && r.inner.use()
}

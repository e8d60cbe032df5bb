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
	// Remaining is how many tokens of the binding need are left after
	// this slot (0 while waiters queue).
	Remaining int
	// RetryAfter is, when not OK, the wait the slot would have needed.
	RetryAfter time.Duration
	// ResetAfter is how long until the binding need's bucket is full
	// again.
	ResetAfter time.Duration
	// Binding is the index of the binding need: the one whose own
	// earliest slot is latest, the first on a tie (0 for one need).
	Binding int
	// Needs holds what the reservation left of every need's key, in the
	// request's order; nil from ReserveN.
	Needs []NeedResult

	at     time.Time // local time of the slot
	once   sync.Once // a slot is used or given back, never both
	given  bool      // Cancel gave the slot back (set under once)
	cancel func(context.Context) error
}

// Cancel gives a granted slot back when its time has not come yet, so that
// the next request can have it. On each key, any write since this slot's
// (a slot taken after it, a Hold, a Reset) makes Cancel leave that key
// alone: a cancel never lets the limit be exceeded, and cancels run newest
// first give every slot back. Cancel on a refused reservation, after the
// slot's time, or a second time does nothing.
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
	return !r.given
}

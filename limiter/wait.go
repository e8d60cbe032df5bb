package limiter

import (
	"context"
	"fmt"
	"math"
	"time"
)

// cancelTimeout bounds the round trip that gives a slot back after the
// caller's context ended.
const cancelTimeout = 5 * time.Second

// Wait takes n tokens for key from lim, sleeping until they are available.
//
// It takes a FIFO slot with one call to ReserveN and sleeps exactly until it.
// When the slot would come after ctx's deadline it returns at once,
// takes nothing, and the error matches context.DeadlineExceeded (and
// [ErrSlotTooLate]). When ctx ends or lim is closed during the sleep, the
// slot is given back and ctx's error or [ErrClosed] is returned.
//
// When lim reports to an [Observer] (see [Observed]), Wait reports its
// admission (and how long it waited) or its refusal.
func Wait(ctx context.Context, lim Limiter, key string, limit Limit, n int) error {
	return wait(ctx, lim, []Need{{Key: key, Limit: limit, N: n}}, observerOf(lim))
}

// WaitAll takes every need's tokens from lim at one slot, sleeping until
// it, as Wait does for one need (with one call to Reserve). The slot is the
// latest of the needs' own earliest slots; see [Limiter.Reserve].
func WaitAll(ctx context.Context, lim Limiter, needs ...Need) error {
	return wait(ctx, lim, needs, observerOf(lim))
}

// wait is Wait of needs reporting to obs, which may be nil. A request of
// one need goes through ReserveN, so that a Limiter of the program's own
// sees the call it is short for.
func wait(ctx context.Context, lim Limiter, needs []Need, obs Observer) error {
	var first Need
	if len(needs) > 0 {
		first = needs[0]
	}
	if lim == nil {
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: nil Limiter: %w", first.N, first.Key, ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: %w", first.N, first.Key, err)
	}
	maxWait := time.Duration(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	wctx := context.WithValue(ctx, waitingKey{}, true)
	var r *Reservation
	var err error
	if len(needs) == 1 {
		r, err = lim.ReserveN(wctx, first.Key, first.Limit, first.N, maxWait)
	} else {
		r, err = lim.Reserve(wctx, maxWait, needs...)
	}
	if err != nil {
		return err
	}
	if r == nil || len(needs) == 0 {
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: the Limiter (%T) returned no Reservation and no error: %w",
			first.N, first.Key, lim, ErrInvalidArgument)
	}
	b := needs[min(max(r.Binding, 0), len(needs)-1)]
	event := func(kind EventKind, d time.Duration, err error) {
		if obs != nil {
			e := needEvent("Wait", needs, r.Binding)
			e.Kind, e.Duration, e.Err = kind, d, err
			obs.Observe(ctx, e)
		}
	}
	if !r.OK {
		err := &DeadlineError{Key: b.Key, N: b.N, Needed: r.RetryAfter, Left: maxWait}
		event(EventRefused, r.RetryAfter, err)
		return err
	}
	if r.Delay <= 0 {
		event(EventAdmitted, 0, nil)
		return nil
	}
	timer := time.NewTimer(r.Delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		if !r.use() {
			// Close gave the slot back while the timer fired.
			return ErrClosed
		}
		event(EventWaited, r.Delay, nil)
		event(EventAdmitted, r.Delay, nil)
		return nil
	case <-ctx.Done():
		giveBack(ctx, r)
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: %w", b.N, b.Key, ctx.Err())
	case <-lim.Done():
		giveBack(ctx, r)
		return ErrClosed
	}
}

type waitingKey struct{}

// isWaiting reports whether ctx is that of a reservation taken by Wait,
// whose caller sleeps until the slot and gives it back when its context
// ends or the Limiter closes: the Handle pins it, so that Close gives it
// back before it closes the store.
func isWaiting(ctx context.Context) bool {
	w, _ := ctx.Value(waitingKey{}).(bool)
	return w
}

func giveBack(ctx context.Context, r *Reservation) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	// A failed cancel leaves the slot taken: the limit is kept, capacity
	// is wasted once.
	_ = r.Cancel(cctx)
}

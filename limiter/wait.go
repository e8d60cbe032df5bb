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
// When the slot would come after ctx's deadline it returns at once, takes
// nothing, and the error matches context.DeadlineExceeded (and
// [ErrSlotTooLate]). When ctx ends or lim is closed during the sleep, the
// slot is given back and ctx's error or [ErrClosed] is returned.
//
// When lim reports to an [Observer] (see [Observed]), Wait reports its
// admission (and how long it waited) or its refusal.
func Wait(ctx context.Context, lim Limiter, key string, limit Limit, n int) error {
	return wait(ctx, lim, key, limit, n, observerOf(lim))
}

// wait is Wait reporting to obs, which may be nil.
func wait(ctx context.Context, lim Limiter, key string, limit Limit, n int, obs Observer) error {
	if lim == nil {
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: nil Limiter: %w", n, key, ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: %w", n, key, err)
	}
	maxWait := time.Duration(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	r, err := lim.ReserveN(context.WithValue(ctx, waitingKey{}, true), key, limit, n, maxWait)
	if err != nil {
		return err
	}
	if !r.OK {
		err := &DeadlineError{Key: key, N: n, Needed: r.RetryAfter, Left: maxWait}
		if obs != nil {
			obs.Observe(ctx, Event{Kind: EventRefused, Op: "Wait", Key: key, N: n, Limit: limit, Duration: r.RetryAfter, Err: err})
		}
		return err
	}
	if r.Delay <= 0 {
		if obs != nil {
			obs.Observe(ctx, Event{Kind: EventAdmitted, Op: "Wait", Key: key, N: n, Limit: limit})
		}
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
		if obs != nil {
			obs.Observe(ctx, Event{Kind: EventWaited, Op: "Wait", Key: key, N: n, Limit: limit, Duration: r.Delay})
			obs.Observe(ctx, Event{Kind: EventAdmitted, Op: "Wait", Key: key, N: n, Limit: limit, Duration: r.Delay})
		}
		return nil
	case <-ctx.Done():
		giveBack(ctx, r)
		return fmt.Errorf("limiter: Wait(n=%d) for key %q: %w", n, key, ctx.Err())
	case <-lim.Done():
		giveBack(ctx, r)
		return ErrClosed
	}
}

type waitingKey struct{}

// IsWaiting reports whether ctx is that of a ReserveN called by Wait, whose
// caller sleeps until the slot and gives it back when its context ends or
// the Limiter closes. Backends whose Close releases a store keep it open,
// briefly, for such a slot to be given back.
func IsWaiting(ctx context.Context) bool {
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

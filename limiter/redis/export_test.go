package redis

import (
	"context"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Slot is the Redis Cluster hash slot of a Redis key, for the tests.
var Slot = slot

// WithLinger forces batches, for the tests: every call queues and each
// batch waits d before it goes, through batchScript even when it holds one
// request (coalesce.Options.Linger).
func WithLinger(d time.Duration) Option { return func(c *config) { c.Batch.Linger = d } }

// DoBatch sends batch through l's batchScript path as one batch (the
// benchmarks), whatever its coalescing.
func DoBatch(ctx context.Context, l *Limiter, batch []driver.Request, answers []driver.Answer) error {
	return l.s.DoBatch(ctx, batch, answers)
}

// SimpleCall is call kind 0, 1 or 2 of the flush-load tests on key of l,
// of lim: an AllowN, a ReserveN cancelled at once, or a Status.
func SimpleCall(ctx context.Context, l *Limiter, kind int, key string, lim limiter.Limit) error {
	var err error
	switch kind {
	case 0:
		_, err = l.AllowN(ctx, key, lim, 1)
	case 1:
		var r *limiter.Reservation
		if r, err = l.ReserveN(ctx, key, lim, 1, time.Second); err == nil {
			err = r.Cancel(ctx)
		}
	case 2:
		_, err = l.Status(ctx, key, lim)
	}
	return err
}

package redis

import (
	"context"
	"time"

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

package redis

import "time"

// Slot is the Redis Cluster hash slot of a Redis key, for the tests.
var Slot = slot

// WithLinger forces batches, for the tests: every call queues and each
// batch waits d before it goes, through batchScript even when it holds one
// request (coalesce.Options.Linger).
func WithLinger(d time.Duration) Option { return func(c *config) { c.batch.Linger = d } }

package sqlite

import (
	"context"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// WithHostClock replaces the host clock's parts, for tests: the wall clock
// (which a test may step), the boot clock in µs and the boot id (nil: the
// host's own). Unlike WithClock it keeps the boot clock's anchoring.
func WithHostClock(wall func() time.Time, boot func() (int64, bool), id func() (string, bool)) Option {
	return func(c *config) {
		c.host = hostClock{wall: wall, boot: boot, bootID: id}
		if boot == nil {
			c.host.boot = bootTime
		}
		if id == nil {
			c.host.bootID = bootID
		}
	}
}

// HasBootClock reports whether the host has a boot clock (Linux).
func HasBootClock() bool {
	_, ok1 := bootTime()
	_, ok2 := bootID()
	return ok1 && ok2
}

// SetAfterPut makes l run f after each row it writes, inside the write
// transaction, with the row's key (nil: nothing). Set it before l is used.
func SetAfterPut(l *Limiter, f func(key string)) { l.s.afterPut = f }

// WithLinger forces batches, for the tests: every call queues and each
// batch waits d before it goes (coalesce.Options.Linger).
func WithLinger(d time.Duration) Option { return func(c *config) { c.Batch.Linger = d } }

// DoBatch gives batch to l's store directly, as one batch (the coalescing
// layer bypassed).
func DoBatch(ctx context.Context, l *Limiter, batch []driver.Request, answers []driver.Answer) error {
	return l.s.Do(ctx, batch, answers)
}

// WaitSweep returns when l's sweeper has run the passes asked for so far
// (or has ended).
func WaitSweep(l *Limiter) { l.s.sw.waitIdle() }

// SetSweepHolds makes l's sweeper give f how long each of its steps held
// the file's lock and the CPU time it took (f runs on the sweeper's
// goroutine). Set it before l is used.
func SetSweepHolds(l *Limiter, f func(wall, cpu time.Duration)) { l.s.sw.holds = f }

// The sweep's bounds, for the tests that check a pass keeps them.
const (
	SweepChunk      = sweepChunk
	SweepChunkBytes = sweepChunkBytes
	SweepMinPause   = minPause
)

// ClockSlack is how far back the clock may step and be obeyed.
const ClockSlack = clockSlack * time.Microsecond

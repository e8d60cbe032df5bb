package limitertest

import (
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Harness gives the suite handles on one shared state.
type Harness struct {
	// Open returns a new handle on the harness's shared state: a second
	// handle must see what the first did, as a second process would. The
	// suite closes the handles it opens.
	Open func(t testing.TB) limiter.Limiter

	// Advance moves the store's clock forward by d. Leave it nil when the
	// store's clock cannot be moved (a real Redis): the suite then runs
	// its step tables in real time with a step Unit of RealUnit and
	// compares durations within Tolerance.
	Advance func(d time.Duration)

	// Tolerance is how far a reported duration may be from the formula:
	// 1 µs for stores with float arithmetic (redis_rate), a few
	// milliseconds for real clocks. The default value is 0 (exact).
	Tolerance time.Duration

	// RealUnit is the step unit of the tables when Advance is nil. The
	// default value is 100 ms.
	RealUnit time.Duration

	// Batched reports that the handles Open returns force batches (every
	// call queues, and calls that overlap share one round trip): the
	// suite then checks that concurrent calls on one handle do share
	// round trips, which the handle's Stats must report. The default
	// value is false.
	Batched bool
}

// clock is the time of a step table: the store's clock moved by Advance, or
// real time.
type clock struct {
	t       testing.TB
	h       Harness
	unit    time.Duration
	start   time.Time
	elapsed time.Duration
}

func newClock(t testing.TB, h Harness) *clock {
	unit := time.Second
	if h.Advance == nil {
		unit = h.RealUnit
		if unit == 0 {
			unit = 100 * time.Millisecond
		}
	}
	return &clock{t: t, h: h, unit: unit, start: time.Now()}
}

// u converts table units to a duration.
func (c *clock) u(x float64) time.Duration { return time.Duration(x * float64(c.unit)) }

// to moves to offset at (in units) from the table's start.
func (c *clock) to(at float64) {
	target := c.u(at)
	if c.h.Advance != nil {
		if d := target - c.elapsed; d > 0 {
			c.h.Advance(d)
			c.elapsed = target
		}
		return
	}
	// Land later steps half a tolerance after their offset: a step at an
	// exact slot boundary would otherwise race the store's latency (the
	// first step's "now" is itself a little after start) and see the
	// slot not yet come. Durations are compared within the whole
	// tolerance.
	if target > 0 {
		target += c.tol() / 2
	}
	time.Sleep(time.Until(c.start.Add(target)))
	c.elapsed = target
}

// real reports whether the clock is real time.
func (c *clock) real() bool { return c.h.Advance == nil }

// tol is the tolerance of duration comparisons.
func (c *clock) tol() time.Duration { return c.h.Tolerance }

func (c *clock) near(got, want time.Duration) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return d <= c.tol()
}

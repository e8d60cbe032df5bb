package testutil

import (
	"context"
	"sync"
	"time"
)

// SleepClock is a Policy's Now and Sleep for tests: a [Clock] whose Sleep
// moves it by the pause and records the pause instead of sleeping (it waits
// a millisecond of real time, so that a probe loop does not spin). Advance
// moves it without a pause (a call that takes time).
type SleepClock struct {
	Clock
	mu     sync.Mutex
	sleeps []time.Duration
	onSlp  func(n int)
}

// NewSleepClock returns a SleepClock that reads start.
func NewSleepClock(start time.Time) *SleepClock {
	c := &SleepClock{}
	c.Set(start)
	return c
}

// Sleep moves the clock by d, records d and calls the SetOnSleep hook; it
// returns ctx's error if ctx ends first.
func (c *SleepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	n, on := len(c.sleeps), c.onSlp
	c.mu.Unlock()
	if on != nil {
		on(n)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}

// Sleeps are the pauses so far, in order.
func (c *SleepClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// SetOnSleep sets the hook called as each pause starts, with the number
// of pauses so far.
func (c *SleepClock) SetOnSleep(f func(n int)) {
	c.mu.Lock()
	c.onSlp = f
	c.mu.Unlock()
}

package testutil

import (
	"context"
	"sync"
	"time"
)

// SleepClock is a Policy's Now and Sleep for tests: Sleep moves the clock
// by the pause and records it instead of sleeping (it waits a millisecond
// of real time, so that a probe loop does not spin).
type SleepClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	onSlp  func(n int)
}

// NewSleepClock returns a SleepClock that reads start.
func NewSleepClock(start time.Time) *SleepClock { return &SleepClock{now: start} }

// Now is the clock's time.
func (c *SleepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d without a pause (a call that takes time).
func (c *SleepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleep moves the clock by d, records d and calls the OnSleep hook; it
// returns ctx's error if ctx ends first.
func (c *SleepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
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

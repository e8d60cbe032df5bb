package testutil

import (
	"context"
	"slices"
	"sync"
	"time"
)

// StepClock is a Policy's Now and Sleep that only the test moves. Sleep
// blocks until the clock reaches the end of the pause (or ctx ends), so
// that what sleeps sees the world exactly as the test's schedule has it at
// each step.
type StepClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

// NewStepClock returns a StepClock that reads start.
func NewStepClock(start time.Time) *StepClock { return &StepClock{now: start} }

// Now is the clock's time.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep blocks until Set moves the clock to now+d or later, or ctx ends.
func (c *StepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	s := &sleeper{until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.sleepers = slices.DeleteFunc(c.sleepers, func(x *sleeper) bool { return x == s })
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Sleeping is the number of pauses in progress.
func (c *StepClock) Sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// Set moves the clock to t and ends the pauses that are over.
func (c *StepClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	c.sleepers = slices.DeleteFunc(c.sleepers, func(s *sleeper) bool {
		if s.until.After(t) {
			return false
		}
		close(s.wake)
		return true
	})
}

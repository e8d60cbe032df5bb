package limiter_test

import (
	"context"
	"slices"
	"sync"
	"time"
)

// The two fake clocks of the core's tests. Both are a Policy's Now and
// Sleep, so that no test sleeps through a backoff.

// fakeTime is a clock whose Sleep moves it and records the pause instead
// of sleeping (a millisecond of real time, so that a probe loop does not
// spin).
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	onSlp  func(n int) // called with the number of sleeps so far
}

func newFakeTime() *fakeTime { return &fakeTime{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeTime) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// add moves the clock by d without a pause (a call that takes time).
func (c *fakeTime) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
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

func (c *fakeTime) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// setOnSleep sets the hook called as each pause starts.
func (c *fakeTime) setOnSleep(f func(n int)) {
	c.mu.Lock()
	c.onSlp = f
	c.mu.Unlock()
}

// stepClock is a clock only the test moves. Its Sleep (the probe's pause,
// a retry's) blocks until the clock reaches the end of the pause, so that
// the probe sees the store exactly as the test's schedule has it at each
// step.
type stepClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

func newStepClock() *stepClock { return &stepClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
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

// sleeping is the number of pauses in progress.
func (c *stepClock) sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// set moves the clock to t and ends the pauses that are over.
func (c *stepClock) set(t time.Time) {
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

package testutil

import (
	"sync"
	"time"
)

// OffsetClock is the real wall clock plus an offset the test steps: a wall
// clock that jumps while the host's monotonic clocks do not. The zero value
// reads the real time.
type OffsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the real time plus the offset.
func (c *OffsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Step adds d to the offset (a negative d steps the clock back).
func (c *OffsetClock) Step(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

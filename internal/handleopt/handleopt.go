// Package handleopt holds the options every store-backed limiter (Redis,
// SQLite) takes the same way, its failure policy, its observer and
// coalescing, and builds its handle from them.
package handleopt

import (
	"github.com/sharedlimit/sharedlimit/internal/coalesce"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Common is what a backend's WithPolicy, WithObserver and WithCoalescing
// set.
type Common struct {
	Policy limiter.Policy
	Batch  coalesce.Options
}

// SetPolicy sets p; a p without an Observer keeps the one set before.
func (c *Common) SetPolicy(p limiter.Policy) {
	obs := c.Policy.Observer
	c.Policy = p
	if p.Observer == nil {
		c.Policy.Observer = obs
	}
}

// SetObserver sets the policy's Observer.
func (c *Common) SetObserver(o limiter.Observer) { c.Policy.Observer = o }

// SetCoalescing turns coalescing on or off.
func (c *Common) SetCoalescing(on bool) { c.Batch.Off = !on }

// Handle returns the handle over s, coalesced by Batch, deciding by
// Policy. On an error s stays open.
func (c *Common) Handle(s driver.Store) (*limiter.Handle, error) {
	cs, err := coalesce.New(s, c.Batch)
	if err != nil {
		return nil, err
	}
	return limiter.NewHandle(cs, c.Policy)
}

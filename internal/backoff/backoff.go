// Package backoff is the one exponential backoff with jitter and the one
// context-aware sleep of the module.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exp is the pause before retry attempt+1 (attempt counts from 0): lo
// doubled per attempt up to hi, jittered to between half and all of it.
func Exp(attempt int, lo, hi time.Duration) time.Duration {
	d := hi
	if attempt < 62 && lo > 0 && lo<<attempt > 0 && lo<<attempt>>attempt == lo {
		d = min(lo<<attempt, hi)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep pauses for d, or until ctx ends: then it returns ctx's error. A
// context that can never end sleeps without a timer.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if ctx.Done() == nil {
		time.Sleep(d)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package limiter_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// counters are what a program might export (expvar, Prometheus, ...):
// plain atomics here, so the core needs no metrics library.
type counters struct {
	admitted, refused, storeErrors, switches atomic.Int64
	waited                                   atomic.Int64 // nanoseconds
}

func (c *counters) Observe(_ context.Context, e limiter.Event) {
	switch e.Kind {
	case limiter.EventAdmitted:
		c.admitted.Add(1)
	case limiter.EventRefused:
		c.refused.Add(1)
	case limiter.EventWaited:
		c.waited.Add(int64(e.Duration))
	case limiter.EventStoreError:
		c.storeErrors.Add(1)
	case limiter.EventPolicySwitch:
		c.switches.Add(1)
	}
}

// An Observer wired to counters. Backends take one as an option (for
// Redis: redis.WithObserver, or redis.WithPolicy); a backend's
// [limiter.NewHandle] takes one, and a failure policy, in its Policy. Here
// the store is the in-process one that limiter/memory wraps.
func ExampleObserver() {
	var c counters
	lim, err := limiter.NewHandle(memstore.New(memstore.NewState(nil)), limiter.Policy{Observer: &c})
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	ctx := context.Background()
	limit := limiter.Limit{Rate: 100, Period: time.Second, Burst: 2}
	for range 3 {
		lim.AllowN(ctx, "api", limit, 1) // 2 admitted, 1 refused
	}
	limiter.Wait(ctx, lim, "api", limit, 1) // waits about 10 ms
	fmt.Printf("admitted %d, refused %d, waited > 0: %v\n", c.admitted.Load(), c.refused.Load(), c.waited.Load() > 0)
	// Output: admitted 3, refused 1, waited > 0: true
}

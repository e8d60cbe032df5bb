package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// A limit of 2 per second with Burst 1 admits one request at once and
// spaces the next by half a second.
func Example() {
	l := memory.New()
	defer l.Close()
	ctx := context.Background()
	lim := limiter.PerSecond(2)
	for i := range 3 {
		r, err := l.AllowN(ctx, "api", lim, 1)
		if err != nil {
			panic(err)
		}
		fmt.Printf("request %d: allowed=%v retry after %s\n", i, r.Allowed, r.RetryAfter.Round(100*time.Millisecond))
	}
	// Output:
	// request 0: allowed=true retry after 0s
	// request 1: allowed=false retry after 500ms
	// request 2: allowed=false retry after 500ms
}

// Handles on one State share every limit, as processes on one SQLite file
// do.
func ExampleWithState() {
	st := memory.NewState(nil)
	a, b := memory.New(memory.WithState(st)), memory.New(memory.WithState(st))
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	ra, _ := a.AllowN(ctx, "k", limiter.PerMinute(1), 1)
	rb, _ := b.AllowN(ctx, "k", limiter.PerMinute(1), 1)
	fmt.Println(ra.Allowed, rb.Allowed)
	// Output: true false
}

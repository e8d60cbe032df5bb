package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/memory" // registers memory://
)

// Wait is what most callers want: it sleeps until the request's slot.
func ExampleWait() {
	ctx := context.Background()
	l, err := limiter.Open(ctx, "memory://")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	lim := limiter.Limit{Rate: 20, Period: time.Second, Burst: 1} // one per 50 ms
	start := time.Now()
	for range 3 {
		if err := limiter.Wait(ctx, l, "api", lim, 1); err != nil {
			panic(err)
		}
	}
	fmt.Println(time.Since(start) >= 100*time.Millisecond)
	// Output: true
}

// A slot beyond the context's deadline fails at once, and takes nothing.
func ExampleWait_deadline() {
	ctx := context.Background()
	l, _ := limiter.Open(ctx, "memory://")
	defer l.Close()
	lim := limiter.PerMinute(1)
	_ = limiter.Wait(ctx, l, "api", lim, 1) // takes the only token
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := limiter.Wait(ctx, l, "api", lim, 1)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, limiter.ErrSlotTooLate))
	// Output: true true
}

// The burst, worked out: PerSecond(2) with Burst 2 admits two at once.
func ExampleLimit_burst() {
	ctx := context.Background()
	l, _ := limiter.Open(ctx, "memory://")
	defer l.Close()
	for _, lim := range []limiter.Limit{limiter.PerSecond(2), limiter.PerSecond(2).WithBurst(2)} {
		admitted := 0
		for range 5 {
			if r, _ := l.AllowN(ctx, lim.String(), lim, 1); r.Allowed {
				admitted++
			}
		}
		fmt.Printf("%s: %d at once, one more every %s\n", lim, admitted, lim.Interval())
	}
	// Output:
	// 2/1s (burst 1): 1 at once, one more every 500ms
	// 2/1s (burst 2): 2 at once, one more every 500ms
}

// Transport limits every attempt of an http.Client, one key per host.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	l, _ := limiter.Open(context.Background(), "memory://")
	defer l.Close()
	client := &http.Client{Transport: &limiter.Transport{Limiter: l, Limit: limiter.PerSecond(50)}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}

package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory" // also registers memory://
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

// A request may pass several limits at once. Here a Lighter-style rule:
// per account, 60 requests and 24,000 weight in any minute, each endpoint
// weighing its own; a request waits until both allow it, and takes from
// both at that slot.
func ExampleTransport_needs() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := memory.New(memory.WithClock(func() time.Time { return now })) // time stands still here
	defer l.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()

	requests := limiter.Limit{Rate: 51, Period: time.Minute, Burst: 10}      // 51 + 10 - 1 = 60 a minute
	weight := limiter.Limit{Rate: 21_001, Period: time.Minute, Burst: 3_000} // 21,001 + 3,000 - 1 = 24,000
	weights := map[string]int{"/api/v1/sendTx": 6, "/api/v1/trades": 600}
	tr := &limiter.Transport{Limiter: l, Needs: func(req *http.Request) (limiter.Charge, error) {
		w, ok := weights[req.URL.Path]
		if !ok {
			return limiter.Charge{}, fmt.Errorf("no weight known for %s", req.URL.Path)
		}
		return limiter.Charge{Needs: []limiter.Need{
			{Key: "acct:7:requests", Limit: requests, N: 1},
			{Key: "acct:7:weight", Limit: weight, N: w},
		}}, nil
	}}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for range 5 {
		resp, err := client.Get(srv.URL + "/api/v1/trades")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	for _, nd := range []limiter.Need{{Key: "acct:7:requests", Limit: requests}, {Key: "acct:7:weight", Limit: weight}} {
		st, _ := l.Status(ctx, nd.Key, nd.Limit)
		fmt.Printf("%s: %d left\n", nd.Key, st.Remaining)
	}
	// The weight is spent: the next trades request would wait for it.
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(wctx, http.MethodGet, srv.URL+"/api/v1/trades", nil)
	_, err := client.Do(req)
	var de *limiter.DeadlineError
	if errors.As(err, &de) {
		fmt.Printf("the next trades request waits %s for %s\n", de.Needed.Round(100*time.Millisecond), de.Key)
	}
	// Output:
	// acct:7:requests: 5 left
	// acct:7:weight: 0 left
	// the next trades request waits 1.7s for acct:7:weight
}

package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// loadResult is what a load of many goroutines on one key did.
type loadResult struct {
	admitted   int64
	roundTrips int64
	times      []time.Duration
}

func (r loadResult) perAdmission() float64 {
	return float64(r.roundTrips) / float64(max(r.admitted, 1))
}

// runLoad runs goroutines spread over handles Limiters (each on a client of
// its own, as separate processes would be) on one key for dur. poll picks
// the loop: false is limiter.Wait, true is AllowN then sleep(RetryAfter).
// Goroutines start no new request after dur; Waits already granted finish.
func runLoad(tb testing.TB, addr string, lim limiter.Limit, handles, goroutines int, dur time.Duration, poll bool) loadResult {
	tb.Helper()
	var counters []*traffic
	var ls []*redis.Limiter
	for range handles {
		c := client(tb, addr)
		h := &traffic{}
		c.AddHook(h)
		l, err := redis.New(c, redis.WithPrefix("load:"))
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		counters, ls = append(counters, h), append(ls, l)
	}
	// Connections and script caches warm up outside the measurement.
	for _, l := range ls {
		if _, err := l.Status(context.Background(), "warm", lim); err != nil {
			tb.Fatal(err)
		}
		if _, err := l.AllowN(context.Background(), "warm", lim, 1); err != nil {
			tb.Fatal(err)
		}
		if _, err := l.ReserveN(context.Background(), "warm", lim, 1, 0); err != nil {
			tb.Fatal(err)
		}
	}
	base := int64(0)
	for _, h := range counters {
		base += h.scripts.Load()
	}
	k := "key-" + time.Now().Format("150405.000000")
	var admitted atomic.Int64
	var mu sync.Mutex
	var times []time.Duration
	start := time.Now()
	stop := start.Add(dur)
	var wg sync.WaitGroup
	for g := range goroutines {
		l := ls[g%handles]
		wg.Go(func() {
			ctx := context.Background()
			for time.Now().Before(stop) {
				if poll {
					res, err := l.AllowN(ctx, k, lim, 1)
					if err != nil {
						tb.Error(err)
						return
					}
					if !res.Allowed {
						time.Sleep(res.RetryAfter)
						continue
					}
				} else if err := limiter.Wait(ctx, l, k, lim, 1); err != nil {
					tb.Error(err)
					return
				}
				at := time.Since(start)
				admitted.Add(1)
				mu.Lock()
				times = append(times, at)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := int64(0)
	for _, h := range counters {
		total += h.scripts.Load()
	}
	return loadResult{admitted: admitted.Load(), roundTrips: total - base, times: times}
}

// TestRoundTripsPerAdmission: 64 waiters on one key over 4 handles cost one
// Redis round trip per admitted request (target <= 1.05), where a loop of
// AllowN and sleep(RetryAfter) costs several.
func TestRoundTripsPerAdmission(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	lim := limiter.Limit{Rate: 500, Period: time.Second, Burst: 1}
	const dur = 1500 * time.Millisecond
	wait := runLoad(t, srv.Addr(), lim, 4, 64, dur, false)
	poll := runLoad(t, srv.Addr(), lim, 4, 64, dur, true)
	t.Logf("Wait:                  %d admitted, %d round trips, %.3f per admission", wait.admitted, wait.roundTrips, wait.perAdmission())
	t.Logf("AllowN+sleep(RetryAfter): %d admitted, %d round trips, %.3f per admission", poll.admitted, poll.roundTrips, poll.perAdmission())
	if got := wait.perAdmission(); got > 1.05 {
		t.Errorf("Wait: %.3f round trips per admission, want <= 1.05", got)
	}
	tol := 20 * time.Millisecond
	limitertest.CheckWindows(t, wait.times, lim, tol)
	limitertest.CheckUsage(t, wait.times, lim, tol)
}

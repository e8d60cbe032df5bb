package redis_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

func TestKey(t *testing.T) {
	if got, want := redis.Key("app:", "host:api"), "rate:{app:host:api}"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if got, want := redis.RateKey("app:", "host:api"), "{app:host:api}"; got != want {
		t.Errorf("RateKey = %q, want %q", got, want)
	}
}

// TestSharedWithRedisRate: raw redis_rate AllowN callers (given RateKey)
// and this backend's Waits hammer one key together; the admissions of both
// stay within the limit, so they share one budget.
func TestSharedWithRedisRate(t *testing.T) {
	srv := redistest.Start(t, redistest.Config{})
	const prefix = "share:"
	k := "api"
	lim := limiter.Limit{Rate: 200, Period: time.Second, Burst: 1}
	rawLim := redis_rate.Limit{Rate: 200, Period: time.Second, Burst: 1}
	raw := redis_rate.NewLimiter(client(t, srv.Addr()))
	ours := open(t, srv.Addr(), redis.WithPrefix(prefix))
	defer ours.Close()

	const dur = 1500 * time.Millisecond
	start := time.Now()
	stop := start.Add(dur)
	var mu sync.Mutex
	var times []time.Duration
	counts := map[string]int{}
	admit := func(who string) {
		at := time.Since(start)
		mu.Lock()
		times = append(times, at)
		counts[who]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				res, err := raw.AllowN(context.Background(), redis.RateKey(prefix, k), rawLim, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed > 0 {
					admit("redis_rate")
					continue
				}
				time.Sleep(res.RetryAfter)
			}
		})
		wg.Go(func() {
			for time.Now().Before(stop) {
				ctx, cancel := context.WithDeadline(context.Background(), stop)
				err := limiter.Wait(ctx, ours, k, lim, 1)
				cancel()
				if err != nil {
					return // the deadline came
				}
				admit("ours")
				// Some work between requests (about 100/s from the 8
				// waiters, half the limit), so that the pollers
				// are not always queued behind the reservations.
				time.Sleep(time.Duration(rand.Int64N(int64(160 * time.Millisecond))))
			}
		})
	}
	wg.Wait()
	t.Logf("admissions: %v in %s (limit %s)", counts, dur, lim)
	if counts["redis_rate"] < 10 || counts["ours"] < 10 {
		t.Fatalf("one side starved (the test then proves nothing): %v", counts)
	}
	tol := 15 * time.Millisecond
	limitertest.CheckWindows(t, times, lim, tol)
	// No usage check: pollers waste slots (they wake a round trip late),
	// which is what Wait is for.
}

// TestSharedKeyBothWays: on a fixed clock, a slot taken by either side is
// seen by the other, with the same retry-after.
func TestSharedKeyBothWays(t *testing.T) {
	m := startMini(t)
	raw := redis_rate.NewLimiter(client(t, m.Addr()))
	ours := open(t, m.Addr(), redis.WithPrefix("p:"))
	defer ours.Close()
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1, Period: time.Second, Burst: 1}
	rawLim := redis_rate.Limit{Rate: 1, Period: time.Second, Burst: 1}

	// Ours reserves two slots (now and in 1 s): raw's next slot is in
	// 2 s.
	for i := range 2 {
		if r, err := ours.ReserveN(ctx, "k", lim, 1, time.Minute); err != nil || !r.OK {
			t.Fatalf("reservation %d: %+v, %v", i, r, err)
		}
	}
	res, err := raw.AllowN(ctx, redis.RateKey("p:", "k"), rawLim, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed != 0 || res.RetryAfter.Round(time.Microsecond) != 2*time.Second {
		t.Fatalf("redis_rate after our two reservations: %+v, want refused for 2s", res)
	}
	// Raw takes a token on another key: ours sees it.
	if res, err := raw.AllowN(ctx, redis.RateKey("p:", "k2"), rawLim, 1); err != nil || res.Allowed != 1 {
		t.Fatalf("redis_rate on a fresh key: %+v, %v", res, err)
	}
	st, err := ours.Status(ctx, "k2", lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.Remaining != 0 || st.NextAfter != time.Second {
		t.Fatalf("our Status after redis_rate took the token: %+v, want none left for 1s", st)
	}
	if ttl := m.TTL(redis.Key("p:", "k")); ttl != 2*time.Second {
		t.Errorf("TTL of a key reserved 2 s ahead = %s, want 2s (redis_rate's ceil(tat - now))", ttl)
	}
}

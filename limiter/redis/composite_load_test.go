package redis_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestCompositeLoadRealRedis: 16 goroutines over 4 handles (each on a
// client of its own) on a real Redis, for 1 s, mixing requests of one need
// (redis_rate's AllowN, reserveScript) and of two or three needs (Allow and
// Reserve, some cancelled before their slot) over three overlapping keys of
// one tag. Every key's admissions, as spans on the real clock (the call to
// its answer, plus the Delay), hold to ceil(Rate*t/Period) + Burst - 1 in
// every window, without tolerance.
func TestCompositeLoadRealRedis(t *testing.T) { compositeLoad(t, 16) }

// TestCompositeLoadRealRedisBatched is TestCompositeLoadRealRedis with
// every call of 64 goroutines in a forced batch (WithLinger), so that
// batches of singles, composites, Reserves and Cancels on the same keys
// race with one another's handles.
func TestCompositeLoadRealRedisBatched(t *testing.T) {
	compositeLoad(t, 64, redis.WithLinger(100*time.Microsecond))
}

func compositeLoad(t *testing.T, goroutines int, opts ...redis.Option) {
	srv := redistest.Start(t, redistest.Config{})
	keys := []string{"{load}:a", "{load}:b", "{load}:c"}
	lims := map[string]limiter.Limit{
		keys[0]: {Rate: 200, Period: time.Second, Burst: 3},
		keys[1]: {Rate: 100, Period: time.Second, Burst: 2},
		keys[2]: {Rate: 400, Period: time.Second, Burst: 5},
	}
	need := func(i, n int) limiter.Need { return limiter.Need{Key: keys[i], Limit: lims[keys[i]], N: n} }
	requests := [][]limiter.Need{
		{need(0, 1)},
		{need(1, 1)},
		{need(0, 1), need(1, 1)},
		{need(1, 1), need(2, 2)},
		{need(2, 1), need(0, 2)},
		{need(0, 1), need(1, 1), need(2, 3)},
	}
	handles := make([]limiter.Limiter, 4)
	for i := range handles {
		handles[i] = open(t, srv.Addr(), append([]redis.Option{redis.WithPrefix("load:")}, opts...)...)
		defer handles[i].Close()
	}
	start := time.Now()
	stop := start.Add(time.Second)
	var mu sync.Mutex
	spans := map[string][]limitertest.Span{}
	composites, cancels := 0, 0
	admit := func(needs []limiter.Need, s limitertest.Span) {
		mu.Lock()
		defer mu.Unlock()
		for _, nd := range needs {
			for range nd.N {
				spans[nd.Key] = append(spans[nd.Key], s)
			}
		}
		if len(needs) > 1 {
			composites++
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		l := handles[g%len(handles)]
		wg.Go(func() {
			ctx := context.Background()
			for time.Now().Before(stop) {
				needs := requests[rand.IntN(len(requests))]
				lo := time.Since(start) - time.Microsecond
				if rand.IntN(2) == 0 {
					var r limiter.Result
					var err error
					if len(needs) == 1 {
						r, err = l.AllowN(ctx, needs[0].Key, needs[0].Limit, needs[0].N)
					} else {
						r, err = l.Allow(ctx, needs...)
					}
					hi := time.Since(start)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Allowed {
						admit(needs, limitertest.Span{Lo: lo, Hi: hi})
					} else {
						time.Sleep(min(r.RetryAfter, 5*time.Millisecond))
					}
					continue
				}
				r, err := l.Reserve(ctx, 30*time.Millisecond, needs...)
				hi := time.Since(start)
				if err != nil {
					t.Error(err)
					return
				}
				if !r.OK {
					time.Sleep(min(r.RetryAfter, 5*time.Millisecond))
					continue
				}
				if r.Delay > 0 && rand.IntN(5) == 0 {
					if err := r.Cancel(ctx); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					cancels++
					mu.Unlock()
					continue
				}
				admit(needs, limitertest.Span{Lo: lo + r.Delay, Hi: hi + r.Delay})
				time.Sleep(r.Delay)
			}
		})
	}
	wg.Wait()
	var st limiter.Stats
	for _, h := range handles {
		x := h.(*redis.Limiter).Stats()
		st.Requests += x.Requests
		st.RoundTrips += x.RoundTrips
	}
	t.Logf("%d composite admissions, %d cancels; tokens per key: a %d, b %d, c %d; %d requests in %d round trips",
		composites, cancels, len(spans[keys[0]]), len(spans[keys[1]]), len(spans[keys[2]]), st.Requests, st.RoundTrips)
	if composites < 50 || cancels < 5 {
		t.Fatalf("%d composite admissions and %d cancels: too few for the test to prove anything", composites, cancels)
	}
	for _, k := range keys {
		limitertest.CheckSpans(t, spans[k], lims[k], time.Second)
	}
}

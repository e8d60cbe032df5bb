package redis_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// everyOp runs every call on key and returns the first error: each script
// must touch one slot (a second key in another slot fails with CROSSSLOT).
func everyOp(ctx context.Context, l limiter.Limiter, key string) error {
	lim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10}
	if _, err := l.AllowN(ctx, key, lim, 1); err != nil {
		return err
	}
	r, err := l.ReserveN(ctx, key, lim, 10, time.Second)
	if err != nil {
		return err
	}
	if err := r.Cancel(ctx); err != nil {
		return err
	}
	if err := l.Hold(ctx, key, lim, time.Millisecond); err != nil {
		return err
	}
	if _, err := l.Status(ctx, key, lim); err != nil {
		return err
	}
	return l.Reset(ctx, key)
}

// TestCluster: a real 3-master Redis Cluster started by the test, opened
// with a redis+cluster:// URL. Every call on keys spread over all three
// masters succeeds (one slot per script). After SCRIPT FLUSH on one master
// (each node has its own script cache), calls on keys in that master's
// slots still succeed: go-redis's EVALSHA gets NOSCRIPT from that node and
// falls back to EVAL there, with no error reaching the caller. A Wait load
// on one key meanwhile keeps the limit.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx := context.Background()
	l, err := limiter.Open(ctx, c.URL()+"?prefix=cl:&timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cc, ok := l.(*redis.Limiter).Client().(*goredis.ClusterClient)
	if !ok {
		t.Fatalf("client %T, want *ClusterClient", l.(*redis.Limiter).Client())
	}
	hook := &traffic{}
	cc.AddHook(hook)

	// Keys by the master that holds them.
	byNode := map[string][]string{}
	for i := range 60 {
		k := "k" + strconv.Itoa(i)
		if err := everyOp(ctx, l, k); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		m, err := cc.MasterForKey(ctx, redis.Key("cl:", k))
		if err != nil {
			t.Fatal(err)
		}
		byNode[m.Options().Addr] = append(byNode[m.Options().Addr], k)
	}
	if len(byNode) != 3 {
		t.Fatalf("60 keys landed on %d masters, want all 3: %v", len(byNode), byNode)
	}

	// Flush the script cache of one master, then use keys it holds.
	flushed := c.Nodes[0].Addr()
	if _, err := redistest.Do(flushed, "", "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	before := hook.evals.Load()
	for _, k := range byNode[flushed] {
		if err := everyOp(ctx, l, k); err != nil {
			t.Fatalf("key %q on the flushed master: %v", k, err)
		}
	}
	if hook.evals.Load() == before {
		t.Fatalf("no EVAL after SCRIPT FLUSH on %s: the flush did not reach the keys' node", flushed)
	}

	// A Wait load on a key of the flushed master while every master's
	// cache is flushed again and again.
	key := byNode[flushed][0]
	lim := limiter.Limit{Rate: 200, Period: time.Second, Burst: 2}
	stop := time.Now().Add(800 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var times []time.Duration
	start := time.Now()
	wg.Go(func() {
		for time.Now().Before(stop) {
			for _, a := range c.Addrs() {
				if _, err := redistest.Do(a, "", "SCRIPT", "FLUSH"); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for range 8 {
		wg.Go(func() {
			for {
				wctx, cancel := context.WithDeadline(ctx, stop)
				err := limiter.Wait(wctx, l, key, lim, 1)
				cancel()
				if err != nil {
					// Near the end, slots come after the deadline:
					// that is the load ending, anything else fails.
					if errors.Is(err, limiter.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Wait during SCRIPT FLUSH: %v", err)
					}
					return
				}
				mu.Lock()
				times = append(times, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d admissions on %s in 800 ms (limit %s), %d EVALs after flushes", len(times), flushed, lim, hook.evals.Load())
	// Stamped when Wait returns: allow for a process descheduled on 2
	// busy cores, as the other real-time tests do.
	limitertest.CheckWindows(t, times, lim, 40*time.Millisecond)
	if len(times) < 100 {
		t.Errorf("only %d admissions in 800 ms at 200/s", len(times))
	}
}

// TestSentinelFailover: a master, a replica and a sentinel started by the
// test; a Limiter opened with a redis+sentinel:// URL; 8 goroutines Wait
// in a loop while the sentinel is told SENTINEL FAILOVER. The default wait
// policy absorbs the switch: no caller gets an error and decisions go on
// against the promoted replica. Replication is asynchronous: what the old
// master decided after the replica's promotion and before go-redis heard
// of the switch is lost, so those slots are given again; the test holds
// the windows to the limit plus one Burst plus a quarter of a Period's
// Rate (it measured 5-7 slots at 100/s), to catch anything worse.
func TestSentinelFailover(t *testing.T) {
	m := redistest.Start(t, redistest.Config{})
	r := redistest.StartReplica(t, m)
	s := redistest.StartSentinel(t, "mymaster", m, r)
	ctx := context.Background()
	l, err := limiter.Open(ctx, "redis+sentinel://"+s.Addr()+"/mymaster/0?prefix=sen:&timeout=500ms")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim := limiter.Limit{Rate: 100, Period: time.Second, Burst: 2}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var times []time.Duration
	var after atomic.Int64 // admissions after the switch
	var switched atomic.Bool
	start := time.Now()
	done := make(chan struct{})
	loopUntil(&wg, 8, done, func() bool {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := limiter.Wait(wctx, l, "k", lim, 1)
		cancel()
		if err != nil {
			t.Errorf("Wait across the failover: %v", err)
			return false
		}
		mu.Lock()
		times = append(times, time.Since(start))
		mu.Unlock()
		if switched.Load() {
			after.Add(1)
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	if _, err := redistest.Do(s.Addr(), "", "SENTINEL", "FAILOVER", "mymaster"); err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1\n" + strconv.Itoa(r.Port())
	redistest.WaitFor(t, 15*time.Second, "the sentinel names the replica master", func() bool {
		out, err := redistest.Do(s.Addr(), "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
		return err == nil && out == want
	})
	switchedAt := time.Since(start)
	switched.Store(true)
	time.Sleep(700 * time.Millisecond)
	close(done)
	wg.Wait()
	t.Logf("%d admissions, %d after the switch at %s", len(times), after.Load(), switchedAt.Round(time.Millisecond))
	if after.Load() < 20 {
		t.Fatalf("only %d admissions in the 700 ms after the switch: decisions did not go on", after.Load())
	}
	// The key now lives on the promoted replica.
	if out, err := redistest.Do(r.Addr(), "", "EXISTS", redis.Key("sen:", "k")); err != nil || out != "1" {
		t.Errorf("EXISTS on the new master: %q, %v", out, err)
	}
	checkWindowsPlus(t, times, lim, lim.Burst+lim.Rate/4, 15*time.Millisecond)
}

// checkWindowsPlus is limitertest.CheckWindows allowing extra admissions in
// any window (the documented outcome of losing the store's data), on the
// windows of CheckWindows and more.
func checkWindowsPlus(t *testing.T, times []time.Duration, lim limiter.Limit, extra int, tol time.Duration, more ...time.Duration) {
	t.Helper()
	T := lim.Interval()
	for _, w := range append([]time.Duration{T, 10 * T, lim.Period}, more...) {
		if got, bound := limitertest.MaxInWindow(times, w-tol), limitertest.Bound(lim, w)+extra; got > bound {
			t.Errorf("%d admissions in a window of %s: want at most %d (the limit %s plus %d)", got, w-tol, bound, lim, extra)
		}
	}
}

package redis_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"
)

const envProcURL = "SHAREDLIMIT_TEST_REDIS_URL"

// openProc opens, in a child, the limiter at the parent's envProcURL
// (closed when t ends) and connects it before the start, so that no
// process starts late.
func openProc(t *testing.T, lim limiter.Limit) limiter.Limiter {
	t.Helper()
	l, err := limiter.Open(context.Background(), os.Getenv(envProcURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Status(context.Background(), "warm", lim); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestProcesses: 4 OS processes x 8 goroutines Wait on one key through a
// real Redis for 2 s: within ceil(rate*t) + burst - 1 in every window, at
// least 99 % of the budget used, and each process's share within 10 % of
// the others'.
func TestProcesses(t *testing.T) {
	// 32 waiters queue 80 ms deep: the last, partial round of the queue
	// (which decides the shares' spread) is small against 2 s.
	lim := limiter.Limit{Rate: 400, Period: time.Second, Burst: 1}
	const procs, goroutines, dur = 4, 8, 2 * time.Second
	if c, ok := proctest.Child(); ok {
		l := openProc(t, lim)
		// A Wait that fails ends its loop, as the deadline does.
		_ = c.Load(goroutines, dur, func(ctx context.Context) (bool, error) {
			return true, limiter.Wait(ctx, l, "procs", lim, 1)
		})
		c.Flush()
		return
	}
	srv := redistest.Start(t, redistest.Config{})
	all := proctest.Spawn(t, procs, []string{envProcURL + "=" + srv.URL() + "?prefix=procs:"}, 2*time.Minute)
	times, counts := proctest.Merge(all)
	t.Logf("admissions per process: %v, %d in all over %s (limit %s)", counts, len(times), dur, lim)
	// Admissions are stamped when Wait returns, in 4 processes sharing
	// the CPUs with Redis: a process descheduled for a few tens of
	// milliseconds stamps its slot late, which bunches it with the next
	// ones. The windows are shrunk by that much.
	tol := 40 * time.Millisecond
	limitertest.CheckWindows(t, times, lim, tol)
	limitertest.CheckUsage(t, times, lim, tol)
	limitertest.CheckShares(t, counts, 0.10)
	if t.Failed() {
		dumpWorst(t, times, 80*time.Millisecond)
	}
}

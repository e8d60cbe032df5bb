package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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

// TestProcessesAllowCoalesced: proctest.Coalesced (4 OS processes x 16
// goroutines in tight Allow loops on one hot key for 1.5 s, a quarter of
// the calls composites) on a real Redis, coalescing on (the default).
// Without tolerance: N admissions of the hot key leave its tat at least
// N*T past Redis's clock read before the first decision; every window
// holds to the bound within the stamps' jitter (AllowCoalesced.Check).
func TestProcessesAllowCoalesced(t *testing.T) {
	a := proctest.Coalesced
	if c, ok := proctest.Child(); ok {
		l := openProc(t, a.Hot)
		if err := a.Load(c, l); err != nil {
			t.Errorf("child %d: %v", c.Index, err)
		}
		c.Flush()
		return
	}
	srv := redistest.Start(t, redistest.Config{})
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rc.Close()
	ctx := context.Background()
	const hotKey = "rate:{procsallow:hot}"
	// Redis's clock just before the children's shared start (Spawn's
	// start lies StartDelay after its call, a little after this one).
	spawned := time.Now()
	type reading struct {
		at     time.Time
		exists int64
		err    error
	}
	early := make(chan reading, 1)
	go func() {
		time.Sleep(time.Until(spawned.Add(proctest.StartDelay - 10*time.Millisecond)))
		var r reading
		r.at, r.err = rc.Time(ctx).Result()
		if r.err == nil {
			r.exists, r.err = rc.Exists(ctx, hotKey).Result()
		}
		early <- r
	}()
	// The key expires a second after its last write, which may come
	// before the children have exited: its tat (which only grows here)
	// is read every 20 ms until they have, and once after.
	var tat int64
	readTat := func() error {
		v, err := rc.Get(ctx, hotKey).Result()
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		x, err := tatOf(v)
		tat = max(tat, x)
		return err
	}
	exited := make(chan struct{})
	polled := make(chan error, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-exited:
				polled <- readTat()
				return
			case <-tick.C:
				if err := readTat(); err != nil {
					polled <- err
					return
				}
			}
		}
	}()
	all := func() [][]time.Duration {
		defer close(exited) // also when Spawn fails the test
		return proctest.Spawn(t, a.Procs, []string{envProcURL + "=" + srv.URL() + "?prefix=procsallow:"}, 2*time.Minute)
	}()
	if err := <-polled; err != nil || tat == 0 {
		t.Fatalf("reading the hot key: %v (tat %d)", err, tat)
	}
	before := <-early
	if before.err != nil || before.exists != 0 {
		t.Fatalf("reading Redis before the start: %v (the hot key exists: %d)", before.err, before.exists)
	}
	// Every admission moved the key's tat on by T from at least the
	// clock before the first (1 µs more for redis_rate's float seconds).
	a.Check(t, all, tat-(before.at.UnixMicro()-scriptEpoch)+1)
}

// scriptEpoch is the Unix time in µs of the scripts' (and redis_rate's)
// clock's zero, 2017-01-01.
const scriptEpoch = 1483228800 * 1_000_000

// tatOf reads the tat in µs of a stored value: "secs.micros..." of the
// scripts' encoding or of redis_rate's float seconds.
func tatOf(v string) (int64, error) {
	secs, frac, ok := strings.Cut(v, ".")
	if !ok {
		return 0, fmt.Errorf("stored value %q: not seconds with microseconds", v)
	}
	if len(frac) < 6 {
		// redis_rate's own write (a lone AllowN runs its script) of
		// float seconds with 14 significant digits: the latest the
		// microsecond could be, under the interval (T >= 1 ms here),
		// so it cannot hide an admission.
		frac += strings.Repeat("9", 6-len(frac))
	}
	s, err1 := strconv.ParseInt(secs, 10, 64)
	us, err2 := strconv.ParseInt(frac[:6], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stored value %q: %w", v, err)
	}
	return s*1_000_000 + us, nil
}

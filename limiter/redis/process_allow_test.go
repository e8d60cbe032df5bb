package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// TestProcessesAllowCoalesced: 4 OS processes x 16 goroutines in tight
// Allow loops on one hot key of a real Redis for 1.5 s, coalescing on (the
// default), a quarter of the calls composites of the hot key and one of
// the process's own. Without tolerance: N admissions of the hot key leave
// its tat at least N*T past Redis's clock read before the first decision
// (a write lost or a decision on a stale tat admits more than the key
// holds), and so at most ceil(Rate*t/Period) + Burst - 1 in the run; every
// window of the stamps (taken when Allow returns) holds to the bound within
// the stamps' jitter.
func TestProcessesAllowCoalesced(t *testing.T) {
	lim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10}
	own := limiter.Limit{Rate: 5000, Period: time.Second, Burst: 50}
	const procs, goroutines, dur = 4, 16, 1500 * time.Millisecond
	if c, ok := proctest.Child(); ok {
		l, err := limiter.Open(context.Background(), os.Getenv(envProcURL))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := l.Status(context.Background(), "warm", lim); err != nil {
			t.Fatal(err)
		}
		hot := limiter.Need{Key: "hot", Limit: lim, N: 1}
		mine := limiter.Need{Key: "own" + string(rune('a'+c.Index)), Limit: own, N: 1}
		var n atomic.Int64
		err = c.Load(goroutines, dur, func(ctx context.Context) (bool, error) {
			var r limiter.Result
			var err error
			if n.Add(1)%4 == 0 {
				r, err = l.Allow(ctx, hot, mine)
			} else {
				r, err = l.AllowN(ctx, "hot", lim, 1)
			}
			return err == nil && r.Allowed, err
		})
		if err != nil {
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
		return proctest.Spawn(t, procs, []string{envProcURL + "=" + srv.URL() + "?prefix=procsallow:"}, 2*time.Minute)
	}()
	if err := <-polled; err != nil || tat == 0 {
		t.Fatalf("reading the hot key: %v (tat %d)", err, tat)
	}
	before := <-early
	if before.err != nil || before.exists != 0 {
		t.Fatalf("reading Redis before the start: %v (the hot key exists: %d)", before.err, before.exists)
	}
	times, counts := proctest.Merge(all)
	// Every admission moved the key's tat on by T from at least the
	// clock before the first: N admissions leave tat >= before + N*T.
	// Fewer is an admission the key does not hold (1 µs for
	// redis_rate's float seconds).
	T := lim.Interval().Microseconds()
	moved := tat - (before.at.UnixMicro() - scriptEpoch) + 1
	t.Logf("admissions per process %v, %d in all; the hot key's tat moved %d µs past Redis's clock before the start: at most %d",
		counts, len(times), moved, moved/T)
	if int64(len(times))*T > moved {
		t.Errorf("%d admissions of the hot key, but its tat moved %d µs (%d intervals of %d µs) from before the first: over-admission",
			len(times), moved, moved/T, T)
	}
	if len(times) < int(float64(lim.Rate)*dur.Seconds()/2) {
		t.Errorf("%d admissions in %s: the load did not saturate the limit %s", len(times), dur, lim)
	}
	limitertest.CheckWindows(t, times, lim, 40*time.Millisecond)
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

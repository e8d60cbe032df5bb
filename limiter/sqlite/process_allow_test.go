package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// TestProcessesAllowCoalesced: 4 OS processes x 16 goroutines in tight
// Allow loops on one hot key of one file for 1.5 s, coalescing on (the
// default), a quarter of the calls composites of the hot key and one of
// the process's own. Without tolerance: N admissions of the hot key leave
// its row's tat at least N*T past the store's clock read (through a probe
// key's first write, tat = now + T) before the first decision; a write
// lost or a decision on a stale row admits more than the row holds. Every
// window of the stamps (taken when Allow returns) holds to the bound
// within the stamps' jitter.
func TestProcessesAllowCoalesced(t *testing.T) {
	lim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10}
	own := limiter.Limit{Rate: 5000, Period: time.Second, Burst: 50}
	const procs, goroutines, dur = 4, 16, 1500 * time.Millisecond
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		l := open(t, os.Getenv(envProcPath))
		hot := limiter.Need{Key: "hot", Limit: lim, N: 1}
		mine := limiter.Need{Key: "own" + string(rune('a'+c.Index)), Limit: own, N: 1}
		var n atomic.Int64
		err := c.Load(goroutines, dur, func(ctx context.Context) (bool, error) {
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
		return
	}
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	probe := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1} // a row no sweep takes
	l := open(t, path)
	spawned := time.Now()
	early := make(chan error, 1)
	go func() {
		time.Sleep(time.Until(spawned.Add(proctest.StartDelay - 10*time.Millisecond)))
		_, err := l.AllowN(context.Background(), "probe", probe, 1)
		early <- err
	}()
	all := spawnOn(t, path, procs)
	if err := <-early; err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tatOf := func(key string) int64 {
		var tat int64
		if err := db.QueryRow("SELECT tat FROM sharedlimit_gcra_v1 WHERE key = ?", key).Scan(&tat); err != nil {
			t.Fatalf("row %s: %v", key, err)
		}
		return tat
	}
	before := tatOf("probe") - probe.Interval().Microseconds()
	tat := tatOf("hot")
	times, counts := proctest.Merge(all)
	T := lim.Interval().Microseconds()
	moved := tat - before
	t.Logf("admissions per process %v, %d in all; the hot row's tat moved %d µs past the clock before the start: at most %d",
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

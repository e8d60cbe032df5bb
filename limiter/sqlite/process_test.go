package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

const envProcPath = "SHAREDLIMIT_SQLITE_TEST_PATH"

// TestProcesses: 4 OS processes with 8 goroutines each Wait on one key of
// one file for 2 s. The admissions of all of them keep the bound in every
// window, use at least 99 % of it, and each process gets its share within
// 10 % of the others'. No call fails (no "database is locked").
func TestProcesses(t *testing.T) {
	// 500/s: enough admissions per goroutine that the share of each
	// process is not decided by the order of the first slots.
	lim := limiter.Limit{Rate: 50, Period: 100 * time.Millisecond, Burst: 1}
	const procs, goroutines, duration = 4, 8, 2 * time.Second
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		l := open(t, os.Getenv(envProcPath))
		err := c.Load(goroutines, duration, func(ctx context.Context) (bool, error) {
			return true, limiter.Wait(ctx, l, "shared", lim, 1)
		})
		if err != nil {
			t.Errorf("child %d: Wait: %v", c.Index, err)
		}
		return
	}
	all := spawnOnFile(t, procs)
	times, counts := proctest.Merge(all)
	t.Logf("%d admissions in %s at %s, per process %v", len(times), duration, lim, counts)
	// Admissions are stamped when Wait returns: allow for wake-up jitter
	// of a process descheduled on 2 busy cores (as limiter/redis does; a
	// shared state that did not work would admit 4 times the bound).
	const tol = 40 * time.Millisecond
	limitertest.CheckWindows(t, times, lim, tol)
	limitertest.CheckUsage(t, times, lim, tol)
	limitertest.CheckShares(t, counts, 0.10)
}

// TestProcessesComposite: 2 OS processes with 4 goroutines each on one
// file, for 1.5 s: the first asks for one key, the second for that key and
// one of its own at once, in tight Allow loops. Every admission of the
// shared key, from both, keeps its bound in every window, and the
// composites keep the second key's (a composite whose multi-row write left
// the shared key uncharged exceeds the first, checked).
func TestProcessesComposite(t *testing.T) {
	// Periods long next to the tolerance, so that the windows see an
	// excess of a third.
	shared := limiter.Limit{Rate: 100, Period: 500 * time.Millisecond, Burst: 1}
	own := limiter.Limit{Rate: 40, Period: 500 * time.Millisecond, Burst: 2}
	const procs, goroutines, duration = 2, 4, 1500 * time.Millisecond
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		l := open(t, os.Getenv(envProcPath))
		needs := []limiter.Need{{Key: "shared", Limit: shared, N: 1}}
		if c.Index == 1 {
			needs = append(needs, limiter.Need{Key: "own", Limit: own, N: 1})
		}
		err := c.Load(goroutines, duration, func(ctx context.Context) (bool, error) {
			r, err := l.Allow(ctx, needs...)
			return err == nil && r.Allowed, err
		})
		if err != nil {
			t.Errorf("child %d: Allow: %v", c.Index, err)
		}
		return
	}
	all := spawnOnFile(t, procs)
	t.Logf("admissions in %s: %d single (shared %s), %d composite (with own %s)", duration, len(all[0]), shared, len(all[1]), own)
	if len(all[0]) == 0 || len(all[1]) == 0 {
		t.Fatalf("a process admitted nothing: %d single, %d composite", len(all[0]), len(all[1]))
	}
	const tol = 40 * time.Millisecond // wake-up jitter, as in TestProcesses
	limitertest.CheckWindows(t, append(append([]time.Duration(nil), all[0]...), all[1]...), shared, tol)
	limitertest.CheckWindows(t, all[1], own, tol)
}

// spawnOnFile runs procs children of the calling test on one new file and
// returns their admissions (see proctest.Spawn); it skips the test in
// -short mode.
func spawnOnFile(t *testing.T, procs int) [][]time.Duration {
	t.Helper()
	return spawnOn(t, filepath.Join(t.TempDir(), "rate-limit.sqlite"), procs)
}

// spawnOn is spawnOnFile on the file at path.
func spawnOn(t *testing.T, path string, procs int) [][]time.Duration {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	return proctest.Spawn(t, procs, []string{envProcPath + "=" + path}, time.Minute)
}

// TestProcessesAllowCoalesced: proctest.Coalesced (4 OS processes x 16
// goroutines in tight Allow loops on one hot key for 1.5 s, a quarter of
// the calls composites) on one file, coalescing on (the default). Without
// tolerance: N admissions of the hot key leave its row's tat at least N*T
// past the store's clock read (through a probe key's first write, tat =
// now + T) before the first decision; every window holds to the bound
// within the stamps' jitter (AllowCoalesced.Check).
func TestProcessesAllowCoalesced(t *testing.T) {
	a := proctest.Coalesced
	if c, ok := proctest.Child(); ok {
		defer c.Flush()
		if err := a.Load(c, open(t, os.Getenv(envProcPath))); err != nil {
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
	all := spawnOn(t, path, a.Procs)
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
	a.Check(t, all, tatOf("hot")-before)
}

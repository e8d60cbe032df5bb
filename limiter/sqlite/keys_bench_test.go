package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// keysTable is the backend's table (schema.go), filled directly for the
// benchmark.
const keysTable = "sharedlimit_gcra_v1"

// BenchmarkKeys is issue 20's: a file holding n idle rows, then key churn
// for a fixed time from two handles on the file (as two processes), one
// goroutine each, with a cleanup interval of 1 s, so that sweeps run during
// the churn, the first one over the n idle rows. Each call takes a key
// drawn at random from the n keys of the file: a row still there (idle or
// not) or one a sweep deleted, which comes back as a new row; a key is idle
// a second after its call (clockSlack). It reports:
//   - ns/op, the wall time per call; p99.9-µs, max-µs and calls>5ms;
//   - calls>5ms-in-step>5ms, the calls over 5 ms that overlap one sweep
//     step by more than 5 ms: those that may have waited over 5 ms for a
//     sweep (a call waiting for a step's lock overlaps it as long);
//   - sweep-hold-p99-µs and sweep-hold-max-µs, how long the sweep's
//     transactions held the file's lock (a call that finds it locked by one
//     waits as long at most, plus its backoff), sweep-cpu-max-µs, the most
//     CPU time one took (its own work, without the pauses of a loaded
//     machine), and sweep-steps;
//   - size-ratio, the file's size at the end of the churn over its size at
//     the start, and rows-end.
//
// Each size runs again without sweeps (no-sweep, a cleanup interval of a
// day): what the calls cost on this machine at that moment without them. It
// ignores b.N: each runs once (about 40 s in all).
func BenchmarkKeys(b *testing.B) {
	for _, c := range []struct {
		idle  int
		churn time.Duration
	}{{10_000, 3 * time.Second}, {100_000, 4 * time.Second}, {1_000_000, 10 * time.Second}} {
		b.Run(fmt.Sprintf("idle=%d", c.idle), func(b *testing.B) { benchKeys(b, c.idle, c.churn, time.Second) })
		b.Run(fmt.Sprintf("idle=%d/no-sweep", c.idle), func(b *testing.B) { benchKeys(b, c.idle, c.churn, 24*time.Hour) })
	}
}

func benchKeys(b *testing.B, idle int, churn, cleanup time.Duration) {
	b.StopTimer()
	path := filepath.Join(b.TempDir(), "keys.sqlite")
	ctx := context.Background()
	l, err := sqlite.New(ctx, path) // the schema, with auto_vacuum
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	fillIdle(b, path, idle, time.Now().Add(-time.Hour))
	start := fileSize(b, path)

	ls := make([]*sqlite.Limiter, 2)
	var mu sync.Mutex
	var holds, cpus []time.Duration
	var steps []span // each sweep step's hold of the lock
	t0 := time.Now()
	for i := range ls {
		if ls[i], err = sqlite.New(ctx, path, sqlite.WithCleanupInterval(cleanup)); err != nil {
			b.Fatal(err)
		}
		sqlite.SetSweepHolds(ls[i], func(wall, cpu time.Duration) {
			end := time.Since(t0)
			mu.Lock()
			holds, cpus = append(holds, wall), append(cpus, cpu)
			steps = append(steps, span{end - wall, end})
			mu.Unlock()
		})
	}
	lim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 1}
	lat := make([][]time.Duration, len(ls))
	slow := make([][]span, len(ls)) // the calls over 5 ms
	var wg sync.WaitGroup
	b.StartTimer()
	t0 = time.Now()
	for g := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; time.Since(t0) < churn; i++ {
				c0 := time.Since(t0)
				if _, err := ls[g].AllowN(ctx, idleKey(rng.IntN(idle)), lim, 1); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0) - c0
				lat[g] = append(lat[g], d)
				if d > 5*time.Millisecond {
					slow[g] = append(slow[g], span{c0, c0 + d})
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	for _, l := range ls {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	all := benchround.LatenciesOf(slices.Concat(lat...))
	if all.Len() == 0 {
		b.Fatal("no calls")
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(float64(elapsed)/float64(all.Len()), "ns/op")
	all.Report(b)
	b.ReportMetric(float64(all.Over(5*time.Millisecond)), "calls>5ms")
	if cleanup < 24*time.Hour {
		// The calls over 5 ms that a sweep step held the lock for more
		// than 5 ms of: those that may have waited that long for it.
		b.ReportMetric(float64(waitedOn(slices.Concat(slow...), steps, 5*time.Millisecond)), "calls>5ms-in-step>5ms")
	}
	if hs := benchround.LatenciesOf(holds); hs.Len() > 0 {
		b.ReportMetric(us(benchround.LatenciesOf(cpus).Quantile(1)), "sweep-cpu-max-µs")
		b.ReportMetric(us(hs.Quantile(0.99)), "sweep-hold-p99-µs")
		b.ReportMetric(us(hs.Quantile(1)), "sweep-hold-max-µs")
		b.ReportMetric(float64(hs.Len()), "sweep-steps")
	}
	b.ReportMetric(float64(fileSize(b, path))/float64(start), "size-ratio")
	b.ReportMetric(float64(all.Len()), "calls")
	b.ReportMetric(float64(rows(b, path)), "rows-end")
}

// span is an interval of time since a benchmark's start.
type span struct{ from, to time.Duration }

// waitedOn is how many of calls overlap one of steps by more than d: a
// call that waited that long for a step's lock overlaps it that long at
// least.
func waitedOn(calls, steps []span, d time.Duration) int {
	n := 0
	for _, c := range calls {
		for _, s := range steps {
			if min(c.to, s.to)-max(c.from, s.from) > d {
				n++
				break
			}
		}
	}
	return n
}

// fillIdle writes n rows idle since at (their tat and last write) into the
// file's table, in one transaction: SQLite generates them (a recursive
// CTE), so that a million take a few seconds.
func fillIdle(b testing.TB, path string, n int, at time.Time) { fillKeys(b, path, n, idleKeyStem, at) }

// idleKeyStem is the printf form of fillIdle's keys.
const idleKeyStem = "idle-%09d"

// idleKey is the key of fillIdle's row i.
func idleKey(i int) string { return fmt.Sprintf(idleKeyStem, i) }

func fileSize(b testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// keysTable is the backend's table (schema.go), filled directly for the
// benchmark.
const keysTable = "sharedlimit_gcra_v1"

// BenchmarkKeys is issue 20's: a file holding n idle rows, then key churn
// (every call a new key, each idle a second later: clockSlack) for a fixed
// time from two handles on the file (as two processes), one goroutine
// each, with a cleanup interval of 1 s, so that sweeps run during the
// churn, the first one over the n idle rows. It reports the wall time per
// call (ns/op), the 99.9th percentile and the worst call, the longest a
// sweep's transaction held the handle's connection (sweep-hold-max-µs: the
// longest a call of that handle could wait for a sweep; another process
// waits for the file's lock as long, plus its backoff), and the file's size
// at the end of the churn over its size at the start (size-ratio). It
// ignores b.N: each size runs once (about 35 s in all).
func BenchmarkKeys(b *testing.B) {
	for _, c := range []struct {
		idle  int
		churn time.Duration
	}{{10_000, 3 * time.Second}, {100_000, 4 * time.Second}, {1_000_000, 10 * time.Second}} {
		b.Run(fmt.Sprintf("idle=%d", c.idle), func(b *testing.B) { benchKeys(b, c.idle, c.churn) })
	}
}

func benchKeys(b *testing.B, idle int, churn time.Duration) {
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
	fillIdle(b, path, idle)
	start := fileSize(b, path)

	ls := make([]*sqlite.Limiter, 2)
	for i := range ls {
		if ls[i], err = sqlite.New(ctx, path, sqlite.WithCleanupInterval(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	lim := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 1}
	lat := make([][]time.Duration, len(ls))
	var wg sync.WaitGroup
	b.StartTimer()
	t0 := time.Now()
	for g := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(t0) < churn; i++ {
				c0 := time.Now()
				if _, err := ls[g].AllowN(ctx, fmt.Sprintf("churn-%d-%09d", g, i), lim, 1); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(c0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	var hold time.Duration
	for _, l := range ls {
		hold = max(hold, sqlite.SweepHoldMax(l))
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no calls")
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(float64(elapsed)/float64(len(all)), "ns/op")
	b.ReportMetric(us(all[len(all)*999/1000]), "p99.9-µs")
	b.ReportMetric(us(all[len(all)-1]), "max-µs")
	b.ReportMetric(us(hold), "sweep-hold-max-µs")
	b.ReportMetric(float64(fileSize(b, path))/float64(start), "size-ratio")
	b.ReportMetric(float64(len(all)), "calls")
	b.ReportMetric(float64(rows(b, path)), "rows-end")
}

// fillIdle writes n rows idle for an hour into the file's table, in one
// transaction: SQLite generates them (a recursive CTE), so that a million
// take a few seconds.
func fillIdle(b *testing.B, path string, n int) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	old := time.Now().Add(-time.Hour).UnixMicro()
	if _, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
		INSERT INTO `+keysTable+` (key, tat, at, tok) SELECT printf('idle-%09d', i), ?2, ?2, 1 FROM c`, n-1, old); err != nil {
		b.Fatal(err)
	}
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// benchLimit admits nearly everything, as limitertest's benchmarks do, so
// that every decision writes.
var benchLimit = limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}

func realHarness(t testing.TB) limitertest.Harness {
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	return limitertest.Harness{Open: func(t testing.TB) limiter.Limiter {
		l, err := sqlite.New(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}}
}

// BenchmarkSQLite is the conformance benchmark on a file, with the real
// clock.
func BenchmarkSQLite(b *testing.B) { limitertest.Benchmark(b, realHarness) }

// baseline is the minimal one-row GCRA on the same settings (WAL,
// synchronous=NORMAL, immediate transactions), the simplest code: the
// yardstick for BenchmarkSQLite and BenchmarkProcesses. It is given what any
// careful minimal version has: one connection per process (SQLite writes
// one at a time anyway) and prepared statements.
type baseline struct {
	db             *sql.DB
	select_, write *sql.Stmt
}

func openBaseline(path string) (*baseline, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY, tat INTEGER NOT NULL)"); err != nil {
		return nil, err
	}
	if _, err := db.Exec("INSERT OR IGNORE INTO bucket VALUES (1, 0)"); err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	bl := &baseline{db: db}
	var err2 error
	if bl.select_, err = db.Prepare("SELECT tat FROM bucket WHERE id = 1"); err != nil {
		return nil, err
	}
	if bl.write, err2 = db.Prepare("UPDATE bucket SET tat = ? WHERE id = 1"); err2 != nil {
		return nil, err2
	}
	return bl, nil
}

func (bl *baseline) allow(ctx context.Context) (bool, error) {
	tx, err := bl.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var tat int64
	if err := tx.StmtContext(ctx, bl.select_).QueryRowContext(ctx).Scan(&tat); err != nil {
		return false, err
	}
	const t, tau = 1, 1_000_000 // benchLimit in µs
	now := time.Now().UnixMicro()
	next := max(tat, now) + t
	if next-now > tau {
		return false, nil
	}
	if _, err := tx.StmtContext(ctx, bl.write).ExecContext(ctx, next); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// BenchmarkBaseline is the baseline's counterpart of BenchmarkSQLite's
// AllowN and AllowN/parallel.
func BenchmarkBaseline(b *testing.B) {
	bl, err := openBaseline(filepath.Join(b.TempDir(), "baseline.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer bl.db.Close()
	ctx := context.Background()
	b.Run("AllowN", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := bl.allow(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AllowN/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := bl.allow(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkComposite is a request of two needs on two keys (Allow) beside
// the one-need AllowN, on one handle with the real clock: the composite's
// figure against the one-need one.
func BenchmarkComposite(b *testing.B) {
	l, err := sqlite.New(context.Background(), filepath.Join(b.TempDir(), "rate-limit.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	b.Run("AllowN", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := l.AllowN(ctx, "bench/one", benchLimit, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	needs := []limiter.Need{{Key: "bench/a", Limit: benchLimit, N: 1}, {Key: "bench/b", Limit: benchLimit, N: 1}}
	b.Run("Allow2", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := l.Allow(ctx, needs...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRatio is the README's figure: the minimal one-row GCRA
// (baseline), this backend's AllowN (one need) and an Allow of two needs
// (composite), each on a file of its own, in rounds that alternate
// (internal/benchround), from one goroutine. It reports each one's median
// ns/op, ours/baseline and composite/ours. Run it with -benchtime 1x: it
// takes about 6 s.
func BenchmarkRatio(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	bl, err := openBaseline(filepath.Join(dir, "baseline.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer bl.db.Close()
	one, err := sqlite.New(ctx, filepath.Join(dir, "one.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer one.Close()
	two, err := sqlite.New(ctx, filepath.Join(dir, "two.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer two.Close()
	needs := []limiter.Need{{Key: "bench/a", Limit: benchLimit, N: 1}, {Key: "bench/b", Limit: benchLimit, N: 1}}
	benchround.Compare(b, 500*time.Millisecond, []benchround.Side{
		{Name: "baseline", Op: func() error { _, err := bl.allow(ctx); return err }},
		{Name: "ours", Op: func() error { _, err := one.AllowN(ctx, "bench/one", benchLimit, 1); return err }},
		{Name: "composite", Op: func() error { _, err := two.Allow(ctx, needs...); return err }},
	}, benchround.Ratio{Num: "ours", Den: "baseline"}, benchround.Ratio{Num: "composite", Den: "ours"})
}

// reportCPU starts counting the process's CPU time (user and system); the
// function it returns reports it per operation as cpu-ns/op, a figure that
// a machine loaded by other work moves less than ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProcesses measures decisions per second summed over real
// processes, ours and the baseline side by side: 1 process x 1 goroutine,
// 1 x 8 and 4 x 4. Each run lasts 2 s whatever b.N is: use -benchtime=1x.
func BenchmarkProcesses(b *testing.B) {
	for _, shape := range []struct{ procs, goroutines int }{{1, 1}, {1, 8}, {4, 4}} {
		for _, impl := range []string{"ours", "baseline"} {
			b.Run(fmt.Sprintf("%dx%d/%s", shape.procs, shape.goroutines, impl), func(b *testing.B) {
				var rate float64
				for b.Loop() {
					rate = runProcs(b, impl, shape.procs, shape.goroutines, 2*time.Second).Rate
				}
				b.ReportMetric(rate, "decisions/s")
			})
		}
	}
}

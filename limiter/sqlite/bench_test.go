package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// The environment of a benchmark child process (see TestMain).
const (
	envBenchImpl       = "SHAREDLIMIT_SQLITE_BENCH_IMPL" // "ours" or "baseline"
	envBenchPath       = "SHAREDLIMIT_SQLITE_BENCH_PATH"
	envBenchGoroutines = "SHAREDLIMIT_SQLITE_BENCH_GOROUTINES"
	envBenchStart      = "SHAREDLIMIT_SQLITE_BENCH_START" // Unix ns
	envBenchDuration   = "SHAREDLIMIT_SQLITE_BENCH_DURATION"
	benchPrefix        = "SQLITE-BENCH-DECISIONS "
)

func TestMain(m *testing.M) {
	if os.Getenv(envBenchImpl) != "" {
		if err := benchChild(); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchChild makes decisions from G goroutines on one key between the
// shared start and its end, and prints how many it made and in how many
// round trips (transactions).
func benchChild() (err error) {
	g, err1 := strconv.Atoi(os.Getenv(envBenchGoroutines))
	startNS, err2 := strconv.ParseInt(os.Getenv(envBenchStart), 10, 64)
	dur, err3 := time.ParseDuration(os.Getenv(envBenchDuration))
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("bad environment: %v %v %v", err1, err2, err3)
	}
	ctx := context.Background()
	path := os.Getenv(envBenchPath)
	var decide func() error
	var count atomic.Int64
	roundTrips := int64(-1) // the baseline's: one per decision
	defer func() {
		if err == nil {
			if roundTrips < 0 {
				roundTrips = count.Load()
			}
			fmt.Printf("%s%d %d\n", benchPrefix, count.Load(), roundTrips)
		}
	}()
	switch impl := os.Getenv(envBenchImpl); impl {
	case "ours", "off":
		l, err := sqlite.New(ctx, path, sqlite.WithCoalescing(impl == "ours"))
		if err != nil {
			return err
		}
		defer l.Close()
		defer func() { roundTrips = l.Stats().RoundTrips }()
		decide = func() error { _, err := l.AllowN(ctx, "bench", benchLimit, 1); return err }
	case "baseline":
		bl, err := openBaseline(path)
		if err != nil {
			return err
		}
		defer bl.db.Close()
		decide = func() error { _, err := bl.allow(ctx); return err }
	default:
		return fmt.Errorf("unknown implementation %q", impl)
	}
	start := time.Unix(0, startNS)
	end := start.Add(dur)
	time.Sleep(time.Until(start))
	var wg sync.WaitGroup
	errc := make(chan error, g)
	for range g {
		wg.Go(func() {
			for time.Now().Before(end) {
				if err := decide(); err != nil {
					errc <- err
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// procsResult is what the children of runProcs did, summed.
type procsResult struct {
	rate                  float64 // decisions per second
	decisions, roundTrips int64
}

// runProcs runs procs child processes of goroutines each on a new file for
// dur: impl "ours", "off" (ours uncoalesced) or "baseline".
func runProcs(b *testing.B, impl string, procs, goroutines int, dur time.Duration) procsResult {
	path := filepath.Join(b.TempDir(), impl+".sqlite")
	// Create the file first, so that the children measure decisions,
	// not the creation of the schema.
	switch impl {
	case "ours", "off":
		l, err := sqlite.New(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	default:
		bl, err := openBaseline(path)
		if err != nil {
			b.Fatal(err)
		}
		bl.db.Close()
	}
	start := time.Now().Add(time.Second)
	counts, trips := make([]int64, procs), make([]int64, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
			cmd.Env = append(os.Environ(), envBenchImpl+"="+impl, envBenchPath+"="+path,
				envBenchGoroutines+"="+strconv.Itoa(goroutines), envBenchStart+"="+strconv.FormatInt(start.UnixNano(), 10),
				envBenchDuration+"="+dur.String())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
				return
			}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), benchPrefix); ok {
					_, errs[i] = fmt.Sscan(rest, &counts[i], &trips[i])
				}
			}
		})
	}
	wg.Wait()
	var res procsResult
	for i := range procs {
		if errs[i] != nil {
			b.Fatalf("%s child %d: %v", impl, i, errs[i])
		}
		res.decisions += counts[i]
		res.roundTrips += trips[i]
	}
	res.rate = float64(res.decisions) / dur.Seconds()
	return res
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
					rate = runProcs(b, impl, shape.procs, shape.goroutines, 2*time.Second).rate
				}
				b.ReportMetric(rate, "decisions/s")
			})
		}
	}
}

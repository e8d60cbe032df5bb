package proctest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The environment of a benchmark child (see RunBench and BenchMain).
const (
	envBenchGoroutines = "SHAREDLIMIT_PROCTEST_BENCH_GOROUTINES"
	envBenchStart      = "SHAREDLIMIT_PROCTEST_BENCH_START" // Unix ns
	envBenchDuration   = "SHAREDLIMIT_PROCTEST_BENCH_DURATION"
	benchPrefix        = "PROCTEST-BENCH-DECISIONS "
)

// Bench is a benchmark child's view of its run: Goroutines loops deciding
// from Start until End.
type Bench struct {
	Goroutines int
	Start, End time.Time
}

// BenchMain is a TestMain for a package with process benchmarks: in a
// child started by RunBench it runs child and exits (1 on an error), and
// otherwise it runs m's tests.
func BenchMain(m *testing.M, child func(*Bench) error) {
	gs, ok := os.LookupEnv(envBenchGoroutines)
	if !ok {
		os.Exit(m.Run())
	}
	g, err1 := strconv.Atoi(gs)
	startNS, err2 := strconv.ParseInt(os.Getenv(envBenchStart), 10, 64)
	dur, err3 := time.ParseDuration(os.Getenv(envBenchDuration))
	var err error
	if err1 != nil || err2 != nil || err3 != nil || g < 1 {
		err = fmt.Errorf("bad environment: goroutines %q (%v), start %v, duration %v", gs, err1, err2, err3)
	} else {
		start := time.Unix(0, startNS)
		err = child(&Bench{Goroutines: g, Start: start, End: start.Add(dur)})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run sleeps until b.Start, then calls decide with ctx from b.Goroutines
// goroutines until b.End, and returns how many calls succeeded and the
// first error (a loop ends at its first error).
func (b *Bench) Run(ctx context.Context, decide func(ctx context.Context) error) (int64, error) {
	time.Sleep(time.Until(b.Start))
	var (
		count atomic.Int64
		wg    sync.WaitGroup
	)
	errc := make(chan error, b.Goroutines)
	for range b.Goroutines {
		wg.Go(func() {
			for time.Now().Before(b.End) {
				if err := decide(ctx); err != nil {
					errc <- err
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	close(errc)
	return count.Load(), <-errc
}

// Report writes the child's figures for RunBench: its decisions and the
// round trips they took.
func (b *Bench) Report(decisions, roundTrips int64) {
	fmt.Printf("%s%d %d\n", benchPrefix, decisions, roundTrips)
}

// BenchResult is what the children of RunBench did, summed.
type BenchResult struct {
	Rate                  float64 // decisions per second
	Decisions, RoundTrips int64
}

// RunBench runs procs children of the current test binary, running no
// test or benchmark (their TestMain is BenchMain), with env added to this
// process's environment, each deciding from goroutines goroutines for dur
// from a shared start a second ahead, and sums what they report. It fails
// tb when a child fails, reports nothing, or runs a minute past dur (the
// child is then killed).
func RunBench(tb testing.TB, env []string, procs, goroutines int, dur time.Duration) BenchResult {
	tb.Helper()
	// Far enough ahead for every child to start and dial.
	start := time.Now().Add(time.Second)
	counts, trips := make([]int64, procs), make([]int64, procs)
	errs := make([]error, procs)
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^$")
			cmd.Env = append(append(os.Environ(), env...),
				envBenchGoroutines+"="+strconv.Itoa(goroutines),
				envBenchStart+"="+strconv.FormatInt(start.UnixNano(), 10),
				envBenchDuration+"="+dur.String())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, Tail(stderr.String()))
				return
			}
			errs[i] = fmt.Errorf("no %q line in its output: %s", benchPrefix, Tail(string(out)))
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), benchPrefix); ok {
					_, errs[i] = fmt.Sscan(rest, &counts[i], &trips[i])
				}
			}
		})
	}
	wg.Wait()
	var res BenchResult
	for i := range procs {
		if errs[i] != nil {
			tb.Fatalf("child %d (%v): %v", i, env, errs[i])
		}
		res.Decisions += counts[i]
		res.RoundTrips += trips[i]
	}
	res.Rate = float64(res.Decisions) / dur.Seconds()
	return res
}

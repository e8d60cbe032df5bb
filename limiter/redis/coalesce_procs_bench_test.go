package redis_test

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

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// The environment of a BenchmarkCoalesceProcesses child (see TestMain).
const (
	envBenchImpl       = "SHAREDLIMIT_REDIS_BENCH_IMPL" // rawName, oursName or "uncoalesced"
	envBenchAddr       = "SHAREDLIMIT_REDIS_BENCH_ADDR"
	envBenchKey        = "SHAREDLIMIT_REDIS_BENCH_KEY"
	envBenchGoroutines = "SHAREDLIMIT_REDIS_BENCH_GOROUTINES"
	envBenchStart      = "SHAREDLIMIT_REDIS_BENCH_START" // Unix ns
	envBenchDuration   = "SHAREDLIMIT_REDIS_BENCH_DURATION"
	benchPrefix        = "REDIS-BENCH-DECISIONS "
)

// TestMain runs a benchmark child when the environment names one, and the
// tests otherwise.
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
// round trips (its client's hook).
func benchChild() error {
	g, err1 := strconv.Atoi(os.Getenv(envBenchGoroutines))
	startNS, err2 := strconv.ParseInt(os.Getenv(envBenchStart), 10, 64)
	dur, err3 := time.ParseDuration(os.Getenv(envBenchDuration))
	if err1 != nil || err2 != nil || err3 != nil || g < 1 {
		return fmt.Errorf("bad environment: goroutines %q (%v), start %v, duration %v",
			os.Getenv(envBenchGoroutines), err1, err2, err3)
	}
	c := goredis.NewClient(&goredis.Options{Addr: os.Getenv(envBenchAddr), PoolSize: g, ContextTimeoutEnabled: true})
	defer c.Close()
	trips := &traffic{}
	c.AddHook(trips)
	key := os.Getenv(envBenchKey)
	var decide func(ctx context.Context) error
	switch impl := os.Getenv(envBenchImpl); impl {
	case rawName:
		raw := redis_rate.NewLimiter(c)
		rawLim := redis_rate.Limit{Rate: 1, Period: benchLimit.Interval(), Burst: benchLimit.Burst}
		rkey := redis.RateKey("", key)
		decide = func(ctx context.Context) error { _, err := raw.AllowN(ctx, rkey, rawLim, 1); return err }
	case oursName, "uncoalesced":
		l, err := redis.New(c, redis.WithCoalescing(impl == oursName))
		if err != nil {
			return err
		}
		defer l.Close()
		decide = func(ctx context.Context) error { _, err := l.AllowN(ctx, key, benchLimit, 1); return err }
	default:
		return fmt.Errorf("unknown implementation %q", impl)
	}
	ctx := context.Background()
	// Dial the pool's connections before the start, so that the load
	// measures decisions.
	var warm sync.WaitGroup
	for range g {
		warm.Go(func() { _ = c.Ping(ctx).Err() })
	}
	warm.Wait()
	t0 := trips.trips.Load()
	start := time.Unix(0, startNS)
	end := start.Add(dur)
	time.Sleep(time.Until(start))
	var (
		count atomic.Int64
		wg    sync.WaitGroup
	)
	errc := make(chan error, g)
	for range g {
		wg.Go(func() {
			for time.Now().Before(end) {
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
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("%s%d %d\n", benchPrefix, count.Load(), trips.trips.Load()-t0)
	return nil
}

// procsResult is what the children of runProcs did, summed.
type procsResult struct {
	rate                  float64 // decisions per second
	decisions, roundTrips int64
}

// runProcs runs procs child processes of goroutines each, deciding on key
// of srv for dur: impl rawName, oursName or "uncoalesced".
func runProcs(b *testing.B, srv *redistest.Server, impl, key string, procs, goroutines int, dur time.Duration) procsResult {
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
			cmd.Env = append(os.Environ(), envBenchImpl+"="+impl, envBenchAddr+"="+srv.Addr(), envBenchKey+"="+key,
				envBenchGoroutines+"="+strconv.Itoa(goroutines), envBenchStart+"="+strconv.FormatInt(start.UnixNano(), 10),
				envBenchDuration+"="+dur.String())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
				return
			}
			errs[i] = fmt.Errorf("no %q line in its output: %s", benchPrefix, out)
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

// BenchmarkCoalesceProcesses is issue 17's processes figure: 4 child
// processes of 16 goroutines each deciding on one key of one loopback
// Redis, each with a client of its own, raw redis_rate AllowN, ours
// (coalescing on, the default) and ours uncoalesced in alternating runs
// of 1 s, for benchround.Rounds rounds. It reports each one's median
// aggregate decisions/s, the medians of the rounds' ours/redis_rate and
// uncoalesced/redis_rate, and round trips per decision. It takes about
// 25 s whatever b.N is: use -benchtime 1x.
func BenchmarkCoalesceProcesses(b *testing.B) {
	const procs, goroutines = 4, 16
	srv := redistest.Start(b, redistest.Config{})
	impls := []string{rawName, oursName, "uncoalesced"}
	rates := map[string][]float64{}
	decisions, trips := map[string]int64{}, map[string]int64{}
	for b.Loop() {
		for r := range benchround.Rounds {
			for i := range impls {
				impl := impls[(r+i)%len(impls)]
				res := runProcs(b, srv, impl, "procs/"+impl, procs, goroutines, time.Second)
				rates[impl] = append(rates[impl], res.rate)
				decisions[impl] += res.decisions
				trips[impl] += res.roundTrips
			}
		}
	}
	for _, impl := range impls {
		b.ReportMetric(benchround.Median(rates[impl]), impl+"-decisions/s")
		if decisions[impl] > 0 {
			b.ReportMetric(float64(trips[impl])/float64(decisions[impl]), impl+"-roundtrips/decision")
		}
	}
	for _, impl := range impls[1:] {
		rs := make([]float64, len(rates[impl]))
		for i := range rs {
			rs[i] = rates[impl][i] / rates[rawName][i]
		}
		b.ReportMetric(benchround.Median(rs), impl+"/"+rawName)
	}
}

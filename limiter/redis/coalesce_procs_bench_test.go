package redis_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/internal/proctest"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// The environment of a BenchmarkCoalesceProcesses child (see TestMain),
// beside proctest's own.
const (
	envBenchImpl = "SHAREDLIMIT_REDIS_BENCH_IMPL" // rawName, oursName or "uncoalesced"
	envBenchAddr = "SHAREDLIMIT_REDIS_BENCH_ADDR"
	envBenchKey  = "SHAREDLIMIT_REDIS_BENCH_KEY"
)

// TestMain runs a benchmark child (benchChild) in a child of runProcs, and
// the tests otherwise.
func TestMain(m *testing.M) { proctest.BenchMain(m, benchChild) }

// benchChild makes decisions from c's goroutines on one key between the
// shared start and its end, and reports how many it made and in how many
// round trips (its client's hook).
func benchChild(bc *proctest.Bench) error {
	c := goredis.NewClient(&goredis.Options{Addr: os.Getenv(envBenchAddr), PoolSize: bc.Goroutines, ContextTimeoutEnabled: true})
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
	for range bc.Goroutines {
		warm.Go(func() { _ = c.Ping(ctx).Err() })
	}
	warm.Wait()
	t0 := trips.trips.Load()
	n, err := bc.Run(ctx, decide)
	if err != nil {
		return err
	}
	bc.Report(n, trips.trips.Load()-t0)
	return nil
}

// runProcs runs procs child processes of goroutines each, deciding on key
// of srv for dur: impl rawName, oursName or "uncoalesced".
func runProcs(b *testing.B, srv *redistest.Server, impl, key string, procs, goroutines int, dur time.Duration) proctest.BenchResult {
	return proctest.RunBench(b, []string{envBenchImpl + "=" + impl, envBenchAddr + "=" + srv.Addr(), envBenchKey + "=" + key},
		procs, goroutines, dur)
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
				rates[impl] = append(rates[impl], res.Rate)
				decisions[impl] += res.Decisions
				trips[impl] += res.RoundTrips
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
		benchround.ReportRatio(b, impl+"/"+rawName, rates[impl], rates[rawName])
	}
}

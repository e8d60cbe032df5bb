package redis_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// benchLimit admits nearly everything, so that the benchmarks measure the
// cost of a decision, not the limit.
var benchLimit = limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}

// benchClient is a client on a loopback redis-server started for b, with a
// pool large enough for 64 goroutines.
func benchClient(b *testing.B, srv *redistest.Server) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), PoolSize: 64, ContextTimeoutEnabled: true})
	b.Cleanup(func() { c.Close() })
	return c
}

// decider returns one immediate decision on key, by this package or by raw
// redis_rate, its arguments built once (as a caller's would be), so that the
// benchmarks measure the decision.
type decider func(key string) func(ctx context.Context) error

// The deciders: raw redis_rate's AllowN, ours of one need, and ours of two
// needs on two keys of one tag.
const (
	rawName       = "redis_rate"
	oursName      = "ours"
	compositeName = "composite"
)

func deciders(b testing.TB, c *goredis.Client) map[string]decider {
	// One request per round trip, as raw redis_rate: these benchmarks
	// compare the decisions; BenchmarkCoalesce compares coalescing.
	l, err := redis.New(c, redis.WithCoalescing(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	raw := redis_rate.NewLimiter(c)
	rawLim := redis_rate.Limit{Rate: 1, Period: benchLimit.Interval(), Burst: benchLimit.Burst}
	return map[string]decider{
		oursName: func(key string) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				_, err := l.AllowN(ctx, key, benchLimit, 1)
				return err
			}
		},
		compositeName: func(key string) func(ctx context.Context) error {
			needs := []limiter.Need{{Key: "{" + key + "}:requests", Limit: benchLimit, N: 1},
				{Key: "{" + key + "}:weight", Limit: benchLimit, N: 1}}
			return func(ctx context.Context) error {
				_, err := l.Allow(ctx, needs...)
				return err
			}
		},
		rawName: func(key string) func(ctx context.Context) error {
			rkey := redis.RateKey("", key)
			return func(ctx context.Context) error {
				_, err := raw.AllowN(ctx, rkey, rawLim, 1)
				return err
			}
		},
	}
}

// BenchmarkAllowN compares this package's AllowN with raw redis_rate AllowN
// on one key, and with an Allow of two needs (two keys of one tag), side by
// side in one run, at 16 and 64 goroutines. Compare the ops/s metrics; the
// runs alternate, so that drift of a noisy machine hits all three.
func BenchmarkAllowN(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	ds := deciders(b, benchClient(b, srv))
	for _, g := range []int{16, 64} {
		for _, name := range []string{rawName, oursName, compositeName} {
			b.Run(fmt.Sprintf("goroutines=%d/%s", g, name), func(b *testing.B) {
				d := ds[name](fmt.Sprintf("bench/%d/%s", g, name))
				b.SetParallelism((g + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if err := d(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}

// BenchmarkAllowNRatio is the README's figure: raw redis_rate, ours (one
// need) and composite (two needs of one tag), in rounds that alternate
// (internal/benchround), at 16 and 64 goroutines on one client. It reports
// each one's median ns/op, ours/redis_rate and composite/ours. Run it with
// -benchtime 1x: each goroutine count takes about 6 s.
func BenchmarkAllowNRatio(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	ds := deciders(b, benchClient(b, srv))
	for _, g := range []int{16, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			ctx := context.Background()
			var sides []benchround.Side
			for _, name := range []string{rawName, oursName, compositeName} {
				d := ds[name](fmt.Sprintf("ratio/%d/%s", g, name))
				sides = append(sides, benchround.Side{Name: name, Goroutines: g, Op: func() error { return d(ctx) }})
			}
			benchround.Compare(b, 500*time.Millisecond, sides,
				benchround.Ratio{Num: oursName, Den: rawName}, benchround.Ratio{Num: compositeName, Den: oursName})
		})
	}
}

// BenchmarkLatency reports the p50 and p99 latency of one decision, alone
// and with 16 goroutines deciding at once.
func BenchmarkLatency(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	ds := deciders(b, benchClient(b, srv))
	for _, g := range []int{1, 16} {
		for _, name := range []string{rawName, oursName, compositeName} {
			b.Run(fmt.Sprintf("goroutines=%d/%s", g, name), func(b *testing.B) {
				d := ds[name](fmt.Sprintf("lat/%d/%s", g, name))
				var mu sync.Mutex
				var lats []time.Duration
				b.SetParallelism((g + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				if g == 1 {
					b.SetParallelism(1)
				}
				run := func(pb interface{ Next() bool }) {
					ctx := context.Background()
					var mine []time.Duration
					for pb.Next() {
						t0 := time.Now()
						if err := d(ctx); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lats = append(lats, mine...)
					mu.Unlock()
				}
				if g == 1 {
					run(loop{b})
				} else {
					b.RunParallel(func(pb *testing.PB) { run(pb) })
				}
				slices.Sort(lats)
				if len(lats) > 0 {
					b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// loop adapts b.Loop to the pb.Next shape.
type loop struct{ b *testing.B }

func (l loop) Next() bool { return l.b.Loop() }

// BenchmarkRoundTrips reports Redis round trips (EVAL and EVALSHA) per
// admitted request with 64 goroutines on one key over 4 handles, for
// limiter.Wait and for a loop of AllowN and sleep(RetryAfter). Each run
// takes 1.5 s of load whatever b.N is.
func BenchmarkRoundTrips(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	lim := limiter.Limit{Rate: 500, Period: time.Second, Burst: 1}
	for _, mode := range []string{"Wait", "AllowN+sleep"} {
		b.Run(mode, func(b *testing.B) {
			var r loadResult
			for b.Loop() {
				r = runLoad(b, srv.Addr(), lim, 4, 64, 1500*time.Millisecond, mode != "Wait")
			}
			b.ReportMetric(r.perAdmission(), "roundtrips/admission")
			b.ReportMetric(float64(r.admitted)/1.5, "admitted/s")
		})
	}
}

// BenchmarkSuite runs the shared backend benchmarks against a loopback
// redis-server.
func BenchmarkSuite(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	limitertest.Benchmark(b, func(tb testing.TB) limitertest.Harness {
		return limitertest.Harness{Open: func(tb testing.TB) limiter.Limiter { return open(tb, srv.Addr()) }}
	})
}

// BenchmarkScriptCPU reports Redis's own CPU per decision of each decider:
// usec_per_call of EVALSHA in INFO commandstats, reset before each run, so
// that the scripts compare without the client and the network.
func BenchmarkScriptCPU(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	c := benchClient(b, srv)
	ds := deciders(b, c)
	ctx := context.Background()
	for _, name := range []string{rawName, oursName, compositeName} {
		b.Run(name, func(b *testing.B) {
			d := ds[name]("cpu/" + name)
			if err := d(ctx); err != nil { // loads the script
				b.Fatal(err)
			}
			if err := c.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := d(ctx); err != nil {
					b.Fatal(err)
				}
			}
			info, err := c.Info(ctx, "commandstats").Result()
			if err != nil {
				b.Fatal(err)
			}
			us, err := usecPerCall(info, "evalsha")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(us, "redis-µs/call")
		})
	}
}

// usecPerCall reads usec_per_call of cmd from INFO commandstats.
func usecPerCall(info, cmd string) (float64, error) {
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(field, "usec_per_call="); ok {
				return strconv.ParseFloat(v, 64)
			}
		}
	}
	return 0, fmt.Errorf("no usec_per_call of %s in INFO commandstats: %q", cmd, info)
}

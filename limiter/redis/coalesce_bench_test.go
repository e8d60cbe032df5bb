package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// coalesceSide is one contender of BenchmarkCoalesce: its decision, and the
// counters of its decisions and round trips.
type coalesceSide struct {
	name      string
	decisions atomic.Int64
	trips     *traffic
	op        func(ctx context.Context, key string) error
}

// coalesceSides returns raw redis_rate, ours (coalescing, the default) and
// ours with coalescing off, each on a client of its own on srv.
func coalesceSides(b *testing.B, srv *redistest.Server, limit limiter.Limit) []*coalesceSide {
	mk := func() (*goredis.Client, *traffic) {
		c := benchClient(b, srv)
		h := &traffic{}
		c.AddHook(h)
		return c, h
	}
	rc, rh := mk()
	raw := redis_rate.NewLimiter(rc)
	rawLim := redis_rate.Limit{Rate: 1, Period: limit.Interval(), Burst: limit.Burst}
	sides := []*coalesceSide{{name: rawName, trips: rh, op: func(ctx context.Context, key string) error {
		_, err := raw.AllowN(ctx, redis.RateKey("", key), rawLim, 1)
		return err
	}}}
	for _, on := range []bool{true, false} {
		c, h := mk()
		l, err := redis.New(c, redis.WithCoalescing(on))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		name := oursName
		if !on {
			name = "uncoalesced"
		}
		sides = append(sides, &coalesceSide{name: name, trips: h, op: func(ctx context.Context, key string) error {
			_, err := l.AllowN(ctx, key, limit, 1)
			return err
		}})
	}
	return sides
}

// compareSides runs the sides in alternating rounds (internal/benchround)
// with g goroutines each, keys choosing each decision's key, and reports
// ours/redis_rate, uncoalesced/redis_rate and each side's round trips per
// decision.
func compareSides(b *testing.B, sides []*coalesceSide, g int, keys func() string) {
	ctx := context.Background()
	var bs []benchround.Side
	for _, s := range sides {
		bs = append(bs, benchround.Side{Name: s.name, Goroutines: g, Op: func() error {
			s.decisions.Add(1)
			return s.op(ctx, keys())
		}})
	}
	benchround.Compare(b, 500*time.Millisecond, bs,
		benchround.Ratio{Num: oursName, Den: rawName}, benchround.Ratio{Num: "uncoalesced", Den: rawName})
	for _, s := range sides {
		if d := s.decisions.Load(); d > 0 {
			b.ReportMetric(float64(s.trips.trips.Load())/float64(d), s.name+"-roundtrips/decision")
		}
	}
}

// BenchmarkCoalesce is the README's coalescing table: raw redis_rate AllowN,
// ours (coalescing on, the default) and ours uncoalesced on one loopback
// Redis, in alternating rounds, each on a client of its own. hot-key: every
// decision on one key; keys=1000: a random key of 1000; latency: one call
// at a time, timed (coalesceLatency); wait: limiter.Wait under a limit of
// 200000/s (coalesceWait). Run it with -benchtime 1x: each
// sub-benchmark takes about 6 s.
func BenchmarkCoalesce(b *testing.B) {
	srv := redistest.Start(b, redistest.Config{})
	for _, g := range []int{64, 16} {
		b.Run(fmt.Sprintf("hot-key/goroutines=%d", g), func(b *testing.B) {
			key := "hot/" + strconv.Itoa(g)
			compareSides(b, coalesceSides(b, srv, benchLimit), g, func() string { return key })
		})
	}
	b.Run("keys=1000/goroutines=64", func(b *testing.B) {
		names := make([]string, 1000)
		for i := range names {
			names[i] = "keys/" + strconv.Itoa(i)
		}
		compareSides(b, coalesceSides(b, srv, benchLimit), 64, func() string { return names[rand.IntN(len(names))] })
	})
	b.Run("latency/goroutines=1", func(b *testing.B) {
		coalesceLatency(b, coalesceSides(b, srv, benchLimit))
	})
	b.Run("wait/rate=200000/goroutines=64", func(b *testing.B) { coalesceWait(b, srv, 64) })
}

// waitLimit is the limit of wait/rate=200000: a burst of 10 ms of it.
var waitLimit = limiter.Limit{Rate: 200_000, Period: time.Second, Burst: 2000}

// The phases of a coalesceWait run: warm (the burst and the queue
// forming, not counted), then the steady window measured.
const (
	waitWarm   = 500 * time.Millisecond
	waitWindow = 2 * time.Second
)

// coalesceWait is wait/rate=200000/goroutines=g: g goroutines loop on
// limiter.Wait of one key under waitLimit, ours (coalescing on) and ours
// uncoalesced, each on a client of its own. Over the steady window it
// reports each one's used fraction of the limit (admissions over
// Rate*window) and admissions per round trip (the client hook's count).
func coalesceWait(b *testing.B, srv *redistest.Server, g int) {
	for b.Loop() {
		for _, on := range []bool{true, false} {
			name := oursName
			if !on {
				name = "uncoalesced"
			}
			c := benchClient(b, srv)
			h := &traffic{}
			c.AddHook(h)
			l, err := redis.New(c, redis.WithCoalescing(on), redis.WithPrefix("wait/"+name+"/"))
			if err != nil {
				b.Fatal(err)
			}
			used, perTrip := waitRun(b, l, h, g)
			l.Close()
			b.ReportMetric(used, name+"-used")
			b.ReportMetric(perTrip, name+"-admissions/roundtrip")
		}
	}
}

// waitRun runs g goroutines of Wait on l and returns the used fraction
// and admissions per round trip over the steady window.
func waitRun(b *testing.B, l *redis.Limiter, h *traffic, g int) (used, perTrip float64) {
	var (
		admitted atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		once     sync.Once
		first    error
	)
	ctx := context.Background()
	for range g {
		wg.Go(func() {
			for !stop.Load() {
				if err := limiter.Wait(ctx, l, "hot", waitLimit, 1); err != nil {
					once.Do(func() { first = err })
					return
				}
				admitted.Add(1)
			}
		})
	}
	time.Sleep(waitWarm)
	a0, t0, s0 := admitted.Load(), h.trips.Load(), time.Now()
	time.Sleep(waitWindow)
	a1, t1, d := admitted.Load(), h.trips.Load(), time.Since(s0)
	stop.Store(true)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	allowed := float64(waitLimit.Rate) * d.Seconds() / waitLimit.Period.Seconds()
	return float64(a1-a0) / allowed, float64(a1-a0) / float64(max(t1-t0, 1))
}

// latencySlice is how long each round of coalesceLatency lasts.
const latencySlice = 1500 * time.Millisecond

// coalesceLatency is latency/goroutines=1: one call at a time, each timed
// alone, the sides taking turns call by call (the first of each turn
// rotating), so that a shared machine's drift hits them alike, for
// benchround.Rounds rounds. It reports each side's median (over the
// rounds) p50 and p99 in ns, and the median of the rounds' ours/redis_rate
// p50 ratios (lower is better for ours).
func coalesceLatency(b *testing.B, sides []*coalesceSide) {
	ctx := context.Background()
	p50, p99 := map[string][]float64{}, map[string][]float64{}
	lat := make([][]time.Duration, len(sides))
	for b.Loop() {
		for range benchround.Rounds {
			for i := range lat {
				lat[i] = lat[i][:0]
			}
			for turn, end := 0, time.Now().Add(latencySlice); time.Now().Before(end); turn++ {
				for j := range sides {
					i := (turn + j) % len(sides)
					s := sides[i]
					t0 := time.Now()
					if err := s.op(ctx, "latency/"+s.name); err != nil {
						b.Fatalf("%s: %v", s.name, err)
					}
					lat[i] = append(lat[i], time.Since(t0))
					s.decisions.Add(1)
				}
			}
			for i, s := range sides {
				slices.Sort(lat[i])
				p50[s.name] = append(p50[s.name], float64(quantile(lat[i], 0.50)))
				p99[s.name] = append(p99[s.name], float64(quantile(lat[i], 0.99)))
			}
		}
	}
	for _, s := range sides {
		b.ReportMetric(benchround.Median(p50[s.name]), s.name+"-p50-ns")
		b.ReportMetric(benchround.Median(p99[s.name]), s.name+"-p99-ns")
		if d := s.decisions.Load(); d > 0 {
			b.ReportMetric(float64(s.trips.trips.Load())/float64(d), s.name+"-roundtrips/decision")
		}
	}
	for _, num := range []string{oursName, "uncoalesced"} {
		rs := make([]float64, len(p50[rawName]))
		for i := range rs {
			rs[i] = p50[num][i] / p50[rawName][i]
		}
		b.ReportMetric(benchround.Median(rs), num+"/"+rawName+"-p50")
	}
}

// quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

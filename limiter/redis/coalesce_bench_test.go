package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"strconv"
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

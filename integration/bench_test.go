package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redistest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
	_ "github.com/sharedlimit/sharedlimit/limiter/redis"
	_ "github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// BenchmarkBackends measures every backend side by side, in one run, with
// the same loops (the README's table):
//
//   - decide: immediate decisions (AllowN) on one key from 16 goroutines
//     over 4 handles (separate clients or connections, as separate
//     processes would have) for 1 s, under a limit that admits
//     everything: decisions per second, and p50/p99 latency of a decision;
//   - latency-1: one goroutine deciding for 1 s: p50/p99;
//   - wait: 64 goroutines over 4 handles take turns with limiter.Wait at
//     500 per second for 1.5 s: store round trips (ReserveN calls) per
//     admission, and admissions per second.
//
// Each run takes about 4 s per backend whatever b.N is:
//
//	go test -run '^$' -bench Backends -benchtime 1x ./integration/
func BenchmarkBackends(b *testing.B) {
	type store struct {
		name string
		open func(b *testing.B) func() limiter.Limiter // a new handle on one shared store
	}
	byURL := func(url string) func() limiter.Limiter {
		return func() limiter.Limiter {
			l, err := limiter.Open(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
	}
	stores := []store{
		{"memory", func(b *testing.B) func() limiter.Limiter {
			st := memory.NewState(nil) // one state: handles share it, as goroutines of one process
			return func() limiter.Limiter { return memory.New(memory.WithState(st)) }
		}},
		{"sqlite", func(b *testing.B) func() limiter.Limiter {
			return byURL("sqlite://" + filepath.ToSlash(filepath.Join(b.TempDir(), "rate-limit.sqlite")))
		}},
		{"miniredis", func(b *testing.B) func() limiter.Limiter {
			return byURL("redis://" + startMiniredis(b).Addr() + "/0")
		}},
		{"redis", func(b *testing.B) func() limiter.Limiter {
			return byURL(redistest.Start(b, redistest.Config{}).URL() + "/0")
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			newHandle := s.open(b)
			handles := make([]limiter.Limiter, 4)
			for i := range handles {
				handles[i] = newHandle()
			}
			defer func() {
				for _, h := range handles {
					h.Close()
				}
			}()
			b.Run("decide", func(b *testing.B) {
				var r decideResult
				for b.Loop() {
					r = decide(b, handles, 16, time.Second)
				}
				b.ReportMetric(r.perSecond, "decisions/s")
				b.ReportMetric(us(r.p50), "p50-µs")
				b.ReportMetric(us(r.p99), "p99-µs")
			})
			b.Run("latency-1", func(b *testing.B) {
				var r decideResult
				for b.Loop() {
					r = decide(b, handles[:1], 1, time.Second)
				}
				b.ReportMetric(r.perSecond, "decisions/s")
				b.ReportMetric(us(r.p50), "p50-µs")
				b.ReportMetric(us(r.p99), "p99-µs")
			})
			b.Run("wait", func(b *testing.B) {
				var trips, admitted int64
				var el time.Duration
				for b.Loop() {
					trips, admitted, el = waitLoad(b, handles, 64, 1500*time.Millisecond)
				}
				b.ReportMetric(float64(trips)/float64(max(admitted, 1)), "roundtrips/admission")
				b.ReportMetric(float64(admitted)/el.Seconds(), "admitted/s")
			})
		})
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

type decideResult struct {
	perSecond float64
	p50, p99  time.Duration
}

// decide runs AllowN from g goroutines over handles for d.
func decide(b *testing.B, handles []limiter.Limiter, g int, d time.Duration) decideResult {
	lim := limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	key := fmt.Sprintf("bench/decide/%d", time.Now().UnixNano())
	var mu sync.Mutex
	var lats []time.Duration
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for i := range g {
		l := handles[i%len(handles)]
		wg.Go(func() {
			ctx := context.Background()
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if _, err := l.AllowN(ctx, key, lim, 1); err != nil {
					b.Error(err)
					break
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return decideResult{}
	}
	return decideResult{
		perSecond: float64(len(lats)) / el.Seconds(),
		p50:       lats[len(lats)/2],
		p99:       lats[len(lats)*99/100],
	}
}

// countReserve counts ReserveN calls: one store round trip each.
type countReserve struct {
	limiter.Limiter
	n *atomic.Int64
}

func (c countReserve) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	c.n.Add(1)
	return c.Limiter.ReserveN(ctx, key, limit, n, maxWait)
}

// waitLoad runs g goroutines over handles calling limiter.Wait at 500 per
// second for d, and returns the ReserveN calls made, the admissions and
// the time they took. No Wait starts after d; those granted finish.
func waitLoad(b *testing.B, handles []limiter.Limiter, g int, d time.Duration) (trips, admitted int64, el time.Duration) {
	lim := limiter.Limit{Rate: 500, Period: time.Second, Burst: 1}
	key := fmt.Sprintf("bench/wait/%d", time.Now().UnixNano())
	var n, ok atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for i := range g {
		l := countReserve{Limiter: handles[i%len(handles)], n: &n}
		wg.Go(func() {
			ctx := context.Background()
			for time.Now().Before(stop) {
				if err := limiter.Wait(ctx, l, key, lim, 1); err != nil {
					b.Error(err)
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), ok.Load(), time.Since(start)
}

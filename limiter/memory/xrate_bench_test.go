package memory_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// BenchmarkVsXRate puts golang.org/x/time/rate's Allow beside this backend's
// AllowN in one run, with a limit that admits nearly everything, serial and
// parallel. Compare the ns/op of the pairs.
func BenchmarkVsXRate(b *testing.B) {
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	b.Run("xrate/serial", func(b *testing.B) {
		x := rate.NewLimiter(rate.Limit(1e9), 1_000_000)
		for b.Loop() {
			x.Allow()
		}
	})
	b.Run("memory/serial", func(b *testing.B) {
		l := memory.New()
		defer l.Close()
		for b.Loop() {
			l.AllowN(ctx, "k", lim, 1)
		}
	})
	b.Run("xrate/parallel", func(b *testing.B) {
		x := rate.NewLimiter(rate.Limit(1e9), 1_000_000)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x.Allow()
			}
		})
	})
	b.Run("memory/parallel", func(b *testing.B) {
		l := memory.New()
		defer l.Close()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.AllowN(ctx, "k", lim, 1)
			}
		})
	})
}

// BenchmarkComposite puts a request of two needs (two keys) beside the
// one-need AllowN in one run, on limits that admit nearly everything.
func BenchmarkComposite(b *testing.B) {
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	b.Run("AllowN", func(b *testing.B) {
		l := memory.New()
		defer l.Close()
		for b.Loop() {
			l.AllowN(ctx, "k", lim, 1)
		}
	})
	b.Run("Allow2", func(b *testing.B) {
		l := memory.New()
		defer l.Close()
		needs := []limiter.Need{{Key: "k", Limit: lim, N: 1}, {Key: "w", Limit: lim, N: 1}}
		for b.Loop() {
			l.Allow(ctx, needs...)
		}
	})
}

// BenchmarkRatio is the README's figure: x/time/rate's Allow, this
// backend's AllowN (one need) and an Allow of two needs (composite), in
// rounds that alternate (internal/benchround), serial and with one
// goroutine per core. It reports each one's median ns/op, ours/xrate and
// composite/ours. Run it with -benchtime 1x: it takes about 6 s.
func BenchmarkRatio(b *testing.B) {
	ctx := context.Background()
	lim := limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	for _, mode := range []struct {
		name string
		g    int
	}{{"serial", 1}, {"parallel", runtime.GOMAXPROCS(0)}} {
		b.Run(mode.name, func(b *testing.B) {
			x := rate.NewLimiter(rate.Limit(1e9), 1_000_000)
			one, two := memory.New(), memory.New()
			defer one.Close()
			defer two.Close()
			needs := []limiter.Need{{Key: "k", Limit: lim, N: 1}, {Key: "w", Limit: lim, N: 1}}
			benchround.Compare(b, 250*time.Millisecond, []benchround.Side{
				{Name: "xrate", Goroutines: mode.g, Op: func() error { x.Allow(); return nil }},
				{Name: "ours", Goroutines: mode.g, Op: func() error { _, err := one.AllowN(ctx, "k", lim, 1); return err }},
				{Name: "composite", Goroutines: mode.g, Op: func() error { _, err := two.Allow(ctx, needs...); return err }},
			}, benchround.Ratio{Num: "ours", Den: "xrate"}, benchround.Ratio{Num: "composite", Den: "ours"})
		})
	}
}

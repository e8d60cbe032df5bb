package limitertest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// benchLimit admits nearly everything, so that the benchmarks measure the
// cost of a decision, not the limit.
var benchLimit = limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}

// Benchmark measures a backend: AllowN from one goroutine, from all
// (b.RunParallel, one key, handles shared), on many keys, ReserveN, and
// Status. Run it with -cpu to vary the parallelism.
func Benchmark(b *testing.B, newHarness func(t testing.TB) Harness) {
	h := newHarness(b)
	l := h.Open(b)
	defer l.Close()
	ctx := context.Background()
	var seq atomic.Int64
	b.Run("AllowN", func(b *testing.B) {
		k := fmt.Sprintf("bench/allow/%d", seq.Add(1))
		for b.Loop() {
			if _, err := l.AllowN(ctx, k, benchLimit, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AllowN/parallel", func(b *testing.B) {
		k := fmt.Sprintf("bench/allowp/%d", seq.Add(1))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.AllowN(ctx, k, benchLimit, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("AllowN/parallel-keys", func(b *testing.B) {
		base := seq.Add(1)
		b.RunParallel(func(pb *testing.PB) {
			k := fmt.Sprintf("bench/keys/%d/%d", base, seq.Add(1))
			for pb.Next() {
				if _, err := l.AllowN(ctx, k, benchLimit, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("ReserveN/parallel", func(b *testing.B) {
		k := fmt.Sprintf("bench/reserve/%d", seq.Add(1))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.ReserveN(ctx, k, benchLimit, 1, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Status", func(b *testing.B) {
		k := fmt.Sprintf("bench/status/%d", seq.Add(1))
		for b.Loop() {
			if _, err := l.Status(ctx, k, benchLimit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/limiter"
	_ "github.com/sharedlimit/sharedlimit/limiter/memory"
)

// BenchmarkKeys is AllowN on new keys that stay live (Every(1h): nothing
// is idle to sweep, the sweep's worst case) through limiter.Open, over
// 10k, 100k and 1M keys: every n calls the next call finds a new handle
// and an empty map, so that the map grows from empty to n keys. It
// reports ns/op, the 99.9th percentile and the longest call. Beside each
// size, keys=N/go-map inserts the same keys into a bare Go map the same
// way (a new map every n): the floor of a map of that many keys on this
// machine (its cache misses), which the store's index pays too.
func BenchmarkKeys(b *testing.B) {
	ctx := context.Background()
	live := limiter.Every(time.Hour)
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			keys := userKeys(n)
			open := func() limiter.Limiter {
				l, err := limiter.Open(ctx, "memory://")
				if err != nil {
					b.Fatal(err)
				}
				return l
			}
			l := open()
			lat := benchround.NewLatencies(b.N)
			b.ResetTimer()
			for i := range b.N {
				if i > 0 && i%n == 0 {
					b.StopTimer()
					l.Close()
					l = open()
					b.StartTimer()
				}
				start := time.Now()
				r, err := l.AllowN(ctx, keys[i%n], live, 1)
				lat.Add(time.Since(start))
				if err != nil || !r.Allowed {
					b.Fatalf("AllowN of a new key: %+v, %v", r, err)
				}
			}
			b.StopTimer()
			l.Close()
			lat.Report(b)
		})
		b.Run("keys="+strconv.Itoa(n)+"/go-map", func(b *testing.B) {
			keys := userKeys(n)
			m := map[string]int64{}
			lat := benchround.NewLatencies(b.N)
			b.ResetTimer()
			for i := range b.N {
				if i > 0 && i%n == 0 {
					b.StopTimer()
					m = map[string]int64{}
					b.StartTimer()
				}
				start := time.Now()
				if _, ok := m[keys[i%n]]; !ok {
					m[keys[i%n]] = int64(i)
				}
				lat.Add(time.Since(start))
			}
			b.StopTimer()
			lat.Report(b)
		})
	}
}

// userKeys is the n keys of BenchmarkKeys.
func userKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

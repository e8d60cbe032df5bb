package memory_test

import (
	"context"
	"hash/maphash"
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
// machine (its cache misses), which the store's index pays too; and
// keys=N/cells the least any hash index pays (see benchCells).
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
		b.Run("keys="+strconv.Itoa(n)+"/cells", func(b *testing.B) { benchCells(b, n) })
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

// benchCells is keys=N/cells of BenchmarkKeys: each key's seeded hash put
// into a table of 2n zeroed cells made beforehand (linear probing, no
// growth, no key kept), a new table every n calls, each call timed as the
// store's are. It is the least any hash index does for a new key: read
// the one cell its hash picks, which at a million keys is not in any
// cache; what the store pays between 10k and 1M keys, beyond this
// difference, is its own.
func benchCells(b *testing.B, n int) {
	keys := userKeys(n)
	seed := maphash.MakeSeed()
	size := 1
	for size < 2*n {
		size <<= 1
	}
	cells, mask := make([]uint64, size), uint64(size-1)
	lat := benchround.NewLatencies(b.N)
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%n == 0 {
			b.StopTimer()
			clear(cells)
			b.StartTimer()
		}
		start := time.Now()
		h := maphash.String(seed, keys[i%n]) | 1
		j := h & mask
		for cells[j] != 0 && cells[j] != h {
			j = (j + 1) & mask
		}
		cells[j] = h
		lat.Add(time.Since(start))
	}
	b.StopTimer()
	lat.Report(b)
}

// userKeys is the n keys of BenchmarkKeys.
func userKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

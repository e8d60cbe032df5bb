package benchround

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Rounds is how many rounds a comparison runs: the Speed targets are
// medians of 4 alternating rounds.
const Rounds = 4

// Side is one contender: Op is one decision, called from Goroutines
// goroutines at once (0: one).
type Side struct {
	Name       string
	Goroutines int
	Op         func() error
}

// Ratio names a pair of sides: the metric "<Num>/<Den>" is Num's
// throughput over Den's, the median of the rounds' ratios (each round's
// two runs are neighbours in time). Higher is better for Num.
type Ratio struct{ Num, Den string }

// Compare runs Rounds rounds of every side for slice each, the order
// rotating every round, and reports each side's median "<name>-ns/op"
// (wall time per decision, all goroutines together) and every ratio. It
// ignores b.N: run it with -benchtime 1x.
func Compare(b *testing.B, slice time.Duration, sides []Side, ratios ...Ratio) {
	b.Helper()
	rates := make(map[string][]float64, len(sides)) // decisions/s per round
	for b.Loop() {
		for r := range Rounds {
			for i := range sides {
				s := sides[(r+i)%len(sides)]
				n, d, err := run(s, slice)
				if err != nil {
					b.Fatalf("%s: %v", s.Name, err)
				}
				rates[s.Name] = append(rates[s.Name], float64(n)/d.Seconds())
			}
		}
	}
	for _, s := range sides {
		b.ReportMetric(1e9/Median(rates[s.Name]), s.Name+"-ns/op")
	}
	for _, q := range ratios {
		ReportRatio(b, q.Num+"/"+q.Den, rates[q.Num], rates[q.Den])
	}
}

// ReportRatio reports as the metric name the median of the rounds' ratios
// num[i]/den[i] (each round's two figures neighbours in time). It fails b
// when num and den are empty or of different lengths.
func ReportRatio(b *testing.B, name string, num, den []float64) {
	b.Helper()
	if len(num) != len(den) || len(num) == 0 {
		b.Fatalf("ratio %s: %d rounds over %d", name, len(num), len(den))
	}
	rs := make([]float64, len(num))
	for i := range num {
		rs[i] = num[i] / den[i]
	}
	b.ReportMetric(Median(rs), name)
}

// run calls s.Op from its goroutines until slice has passed and returns
// how many decisions they made in how long, or the first error.
func run(s Side, slice time.Duration) (int64, time.Duration, error) {
	g := max(s.Goroutines, 1)
	var stop atomic.Bool
	var total atomic.Int64
	errs := make(chan error, g)
	start := time.Now()
	t := time.AfterFunc(slice, func() { stop.Store(true) })
	defer t.Stop()
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			n := int64(0)
			for !stop.Load() {
				if err := s.Op(); err != nil {
					errs <- err
					break
				}
				n++
			}
			total.Add(n)
		})
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	return total.Load(), d, <-errs
}

// median of xs (the mean of the middle two for an even count).
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	m := len(s) / 2
	if len(s)%2 == 0 {
		return (s[m-1] + s[m]) / 2
	}
	return s[m]
}

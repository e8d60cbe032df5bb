package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
)

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

package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/benchround"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// BenchmarkCoalesce is issue 17's SQLite figures: ours (coalescing on, the
// default) against the minimal one-row GCRA (baseline), as the median of
// alternating rounds of "ours/minimal", with ours uncoalesced
// (WithCoalescing(false)) beside as "off/minimal", and ours's round trips
// (transactions) per decision (Handle.Stats). In one process it runs
// benchround.Compare (8 and 64 goroutines); processes=4/goroutines=16
// alternates runs of 4 child processes of 16 goroutines each (runProcs).
// Each shape takes 6 to 25 s whatever b.N is.
func BenchmarkCoalesce(b *testing.B) {
	for _, g := range []int{8, 64} {
		b.Run(fmt.Sprintf("processes=1/goroutines=%d", g), func(b *testing.B) { coalesceInProcess(b, g) })
	}
	b.Run("processes=4/goroutines=16", func(b *testing.B) { coalesceProcesses(b, 4, 16) })
}

// coalesceInProcess compares ours, ours uncoalesced and the baseline, each
// on a file of its own, from g goroutines on one key.
func coalesceInProcess(b *testing.B, g int) {
	ctx := context.Background()
	dir := b.TempDir()
	bl := baselineAt(b, filepath.Join(dir, "baseline.sqlite"))
	ours := open(b, filepath.Join(dir, "ours.sqlite"))
	off := open(b, filepath.Join(dir, "off.sqlite"), sqlite.WithCoalescing(false))
	allow := func(l *sqlite.Limiter) func() error {
		return func() error { _, err := l.AllowN(ctx, "bench", benchLimit, 1); return err }
	}
	benchround.Compare(b, 500*time.Millisecond, []benchround.Side{
		{Name: "minimal", Goroutines: g, Op: func() error { _, err := bl.allow(ctx); return err }},
		{Name: "ours", Goroutines: g, Op: allow(ours)},
		{Name: "off", Goroutines: g, Op: allow(off)},
	}, benchround.Ratio{Num: "ours", Den: "minimal"}, benchround.Ratio{Num: "off", Den: "minimal"})
	reportRoundTrips(b, ours.Stats())
}

// baselineAt opens the baseline's file at path, closed when b ends.
func baselineAt(b *testing.B, path string) *baseline {
	bl, err := openBaseline(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bl.db.Close() })
	return bl
}

// reportRoundTrips reports st's round trips per decision.
func reportRoundTrips(b *testing.B, st limiter.Stats) {
	if st.Requests > 0 {
		b.ReportMetric(float64(st.RoundTrips)/float64(st.Requests), "roundtrips/decision")
	}
}

// coalesceProcesses alternates runs of procs processes of goroutines each,
// ours, ours uncoalesced and the baseline, for benchround.Rounds rounds, and
// reports the median ratios and ours's round trips per decision.
func coalesceProcesses(b *testing.B, procs, goroutines int) {
	impls := []string{"baseline", "ours", "off"}
	rates := map[string][]float64{}
	var trips, decisions int64
	for b.Loop() {
		for r := range benchround.Rounds {
			for i := range impls {
				impl := impls[(r+i)%len(impls)]
				res := runProcs(b, impl, procs, goroutines, time.Second)
				rates[impl] = append(rates[impl], res.Rate)
				if impl == "ours" {
					trips, decisions = trips+res.RoundTrips, decisions+res.Decisions
				}
			}
		}
	}
	for _, impl := range impls {
		b.ReportMetric(benchround.Median(rates[impl]), impl+"-decisions/s")
	}
	for _, impl := range impls[1:] {
		benchround.ReportRatio(b, impl+"/minimal", rates[impl], rates["baseline"])
	}
	reportRoundTrips(b, limiter.Stats{Requests: decisions, RoundTrips: trips})
}

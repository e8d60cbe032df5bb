package benchround

import (
	"slices"
	"testing"
	"time"
)

// Latencies records the time of each call of a benchmark, so that it can
// report the tail beside ns/op.
type Latencies struct{ d []time.Duration }

// NewLatencies returns a Latencies with room for n calls.
func NewLatencies(n int) *Latencies { return &Latencies{d: make([]time.Duration, 0, n)} }

// LatenciesOf returns a Latencies holding ds (which it sorts in place):
// the times several goroutines recorded each in a slice of its own.
func LatenciesOf(ds []time.Duration) *Latencies { return &Latencies{d: ds} }

// Add records one call's time.
func (l *Latencies) Add(d time.Duration) { l.d = append(l.d, d) }

// Quantile is the q-quantile (0 <= q <= 1) of the times recorded, by the
// nearest rank; 0 with none. It sorts the times.
func (l *Latencies) Quantile(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := min(int(q*float64(len(l.d))), len(l.d)-1)
	return l.d[i]
}

// Len is the number of times recorded.
func (l *Latencies) Len() int { return len(l.d) }

// Report reports the 99.9th percentile and the longest call, in µs, as
// the metrics p99.9-µs and max-µs.
func (l *Latencies) Report(b *testing.B) {
	b.ReportMetric(float64(l.Quantile(0.999))/float64(time.Microsecond), "p99.9-µs")
	b.ReportMetric(float64(l.Quantile(1))/float64(time.Microsecond), "max-µs")
}

// Over is how many of the times recorded are longer than d.
func (l *Latencies) Over(d time.Duration) int {
	slices.Sort(l.d)
	n, _ := slices.BinarySearch(l.d, d+1)
	return len(l.d) - n
}

package limitertest

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Bound is the most admissions a Limit allows in any half-open window of
// length w: ceil(Rate*w/Period) + Burst - 1.
func Bound(limit limiter.Limit, w time.Duration) int {
	return int(math.Ceil(float64(limit.Rate)*float64(w)/float64(limit.Period))) + limit.Burst - 1
}

// MaxInWindow is the largest number of times in any half-open window of
// length w.
func MaxInWindow(times []time.Duration, w time.Duration) int {
	_, _, n := FullestWindow(times, w)
	return n
}

// FullestWindow finds the half-open window of length w holding the most
// times: it returns the times sorted, and the index and count of those in
// that window (sorted[i:i+n]), for failure messages.
func FullestWindow(times []time.Duration, w time.Duration) (sorted []time.Duration, i, n int) {
	sorted = slices.Clone(times)
	slices.Sort(sorted)
	j := 0
	for k := range sorted {
		for j < len(sorted) && sorted[j] < sorted[k]+w {
			j++
		}
		if j-k > n {
			i, n = k, j-k
		}
	}
	return sorted, i, n
}

// CheckWindows fails t when any half-open window of length w holds more than
// Bound(limit, w) of times, for w of one emission interval, one Period and
// ten intervals. tol shrinks the windows, for times measured on a real
// clock with scheduling jitter: then windows of length w - tol are held to
// Bound(limit, w).
func CheckWindows(t testing.TB, times []time.Duration, limit limiter.Limit, tol time.Duration) {
	t.Helper()
	T := limit.Interval()
	for _, w := range []time.Duration{T, 10 * T, limit.Period} {
		probe := w - tol
		if probe <= 0 {
			continue
		}
		if got, bound := MaxInWindow(times, probe), Bound(limit, w); got > bound {
			t.Errorf("%d admissions in a window of %s (tolerance %s): the limit %s allows at most %d",
				got, probe, tol, limit, bound)
		}
	}
}

// CheckUsage fails t when times use less than 99 % of the budget of the span
// they cover: Bound(limit, last-first) measured with the span shortened by
// tol (real clocks), lengthened by one microsecond to make it half-open.
func CheckUsage(t testing.TB, times []time.Duration, limit limiter.Limit, tol time.Duration) {
	t.Helper()
	if len(times) < 2 {
		t.Errorf("only %d admissions: nothing to measure", len(times))
		return
	}
	span := slices.Max(times) - slices.Min(times) - tol + time.Microsecond
	budget := Bound(limit, span)
	if float64(len(times)) < 0.99*float64(budget) {
		t.Errorf("%d admissions over %s: under 99 %% of the %d the limit %s allows", len(times), span, budget, limit)
	}
}

// CheckShares fails t when two counts differ by more than frac of the
// larger (for example 0.10: each process's share within 10 % of every
// other's).
func CheckShares(t testing.TB, counts []int, frac float64) {
	t.Helper()
	if len(counts) == 0 {
		t.Errorf("no shares to compare")
		return
	}
	lo, hi := slices.Min(counts), slices.Max(counts)
	if float64(hi-lo) > frac*float64(hi) {
		t.Errorf("shares %v: the largest and smallest differ by %d, more than %.0f %% of %d", counts, hi-lo, frac*100, hi)
	}
}

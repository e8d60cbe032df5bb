package limitertest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Span is an admission whose instant, on the clock of the test, is known to
// lie in [Lo, Hi]: an AllowN (or a ReserveN without waiting) admitted
// between the call and its return, or a Wait's slot, which lies between
// the reservation's call and its answer, each plus the reservation's Delay.
// Spans let a real-clock test check the bound without a tolerance: an
// admission counts in a window only when its whole span lies inside it,
// so that no jitter can make a correct limiter fail, and a span a few
// microseconds wide hides no extra interval. Stores read their clocks in
// whole microseconds: start a span 1 µs before the call (WaitSpan does).
type Span struct {
	// Lo and Hi bound the admission's instant: Lo <= instant <= Hi.
	Lo, Hi time.Duration
}

// String formats the span for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("[%s, %s]", s.Lo.Round(time.Microsecond), s.Hi.Round(time.Microsecond))
}

// MaxCertainInWindow is the largest number of spans that lie wholly inside
// one half-open window of length w: admissions that certainly happened in
// it, however their instants fell within their spans.
func MaxCertainInWindow(spans []Span, w time.Duration) int {
	_, _, n := fullestCertain(spans, w)
	return n
}

// fullestCertain returns the spans sorted by Lo, and the start index and
// count of the fullest window of length w (the spans of sorted[i:] with Hi
// below sorted[i].Lo + w). A fullest window can always start at the Lo of
// one of the spans it holds, so trying each Lo is exhaustive.
func fullestCertain(spans []Span, w time.Duration) (sorted []Span, i, n int) {
	sorted = slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b Span) int { return cmp.Compare(a.Lo, b.Lo) })
	for k := range sorted {
		end := sorted[k].Lo + w
		c := 0
		for j := k; j < len(sorted) && sorted[j].Lo < end; j++ {
			if sorted[j].Hi < end {
				c++
			}
		}
		if c > n {
			i, n = k, c
		}
	}
	return sorted, i, n
}

// CheckSpans fails t when a half-open window of length w certainly holds
// more than Bound(limit, w) admissions (see [MaxCertainInWindow]), for w of
// one emission interval, ten intervals, one Period, and each of extra (for
// example the length of the whole run).
func CheckSpans(t testing.TB, spans []Span, limit limiter.Limit, extra ...time.Duration) {
	t.Helper()
	T := limit.Interval()
	for _, w := range append([]time.Duration{T, 10 * T, limit.Period}, extra...) {
		sorted, i, got := fullestCertain(spans, w)
		if bound := Bound(limit, w); got > bound {
			end := sorted[i].Lo + w
			var in []string
			for j := i; j < len(sorted) && sorted[j].Lo < end && len(in) < 2*bound+4; j++ {
				if sorted[j].Hi < end {
					in = append(in, sorted[j].String())
				}
			}
			t.Errorf("%d admissions certainly in a window of %s from %s: the limit %s allows at most %d; they lie in %s",
				got, w, sorted[i].Lo.Round(time.Microsecond), limit, bound, strings.Join(in, " "))
		}
	}
}

// CheckSpanUsage fails t when the spans use less than 99 % of the budget
// of the part of the run they cover: Bound(limit, last Hi - first Hi +
// 1 µs). Hi is when the caller had its answer (for a Wait, when it would
// return), a round trip after the store decided; Lo would count the first
// call's set-up (a connection dialled) as budget the limiter did not have
// to give yet. A test calls it on the admissions of a run during which the
// limit was saturated from the first admission to the last.
func CheckSpanUsage(t testing.TB, spans []Span, limit limiter.Limit) {
	t.Helper()
	if got, budget, span := SpanUsage(spans, limit); float64(got) < 0.99*float64(budget) {
		t.Errorf("%d admissions over %s: under 99 %% of the %d the limit %s allows", got, span, budget, limit)
	}
}

// SpanUsage returns the number of spans, the budget of the part of the run
// they cover (see [CheckSpanUsage]) and that part's length.
func SpanUsage(spans []Span, limit limiter.Limit) (n, budget int, span time.Duration) {
	if len(spans) == 0 {
		return 0, 0, 0
	}
	first, last := spans[0].Hi, spans[0].Hi
	for _, s := range spans {
		first, last = min(first, s.Hi), max(last, s.Hi)
	}
	span = last - first + time.Microsecond
	return len(spans), Bound(limit, span), span
}

// WaitSpan is limiter.Wait, also returning the Span of the slot it waited
// for, on the clock of durations since start: the reservation's call (less
// 1 µs) and its answer, each plus its Delay. (Wait on the bare Limiter: no Observer
// sees it.)
func WaitSpan(ctx context.Context, l limiter.Limiter, key string, limit limiter.Limit, n int, start time.Time) (Span, error) {
	st := &stamped{Limiter: l, clk: &spanClock{start: start}}
	if err := limiter.Wait(ctx, st, key, limit, n); err != nil {
		return Span{}, err
	}
	return st.span, nil
}

package integration

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
)

// The checks a fleet test makes of its workers' results and the fake
// API's arrivals.

// summary is the fleet's totals.
type summary struct {
	calls, answered, failed int
	attempts                int64
	reasons                 map[string]int
	reserveErrors           int
	maxReserve              time.Duration
}

func summarize(rs []workerResult) summary {
	s := summary{reasons: map[string]int{}}
	for _, r := range rs {
		s.calls += r.Calls
		s.answered += r.Answered
		s.failed += r.failed()
		s.attempts += r.Attempts
		s.reserveErrors += r.ReserveErrors
		s.maxReserve = max(s.maxReserve, r.MaxReserve)
		for k, v := range r.Failed {
			s.reasons[k] += v
		}
	}
	return s
}

func (s summary) String() string {
	keys := slices.Sorted(maps.Keys(s.reasons))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%q=%d", k, s.reasons[k]))
	}
	return fmt.Sprintf("%d calls: %d answered, %d failed {%s}; %d attempts; %d reservations failed, the longest took %s",
		s.calls, s.answered, s.failed, strings.Join(parts, " "), s.attempts, s.reserveErrors, s.maxReserve.Round(time.Millisecond))
}

// checkAccounted fails t unless every call of every reporting worker was
// answered or failed with one of the allowed reasons, and unless the
// server saw exactly the attempts each reporting worker made (less, at
// most, those cut on the network by the run's end).
func (f *fleet) checkAccounted(rs []workerResult, allowed ...string) summary {
	t := f.t
	t.Helper()
	s := summarize(rs)
	_, per := f.arrivals()
	for _, r := range rs {
		if r.Calls != r.Answered+r.failed() {
			t.Errorf("worker %d: %d calls but %d answered + %d failed", r.Index, r.Calls, r.Answered, r.failed())
		}
		for reason, n := range r.Failed {
			if !slices.Contains(allowed, reason) {
				t.Errorf("worker %d: %d calls failed with %q (allowed: %q), such as: %s", r.Index, n, reason, allowed, r.Samples[reason])
			}
		}
		if seen := int64(per[r.Index]); seen > r.Attempts || seen < r.Attempts-r.Cut {
			t.Errorf("worker %d made %d attempts (%d cut by the run's end); the server saw %d from it", r.Index, r.Attempts, r.Cut, seen)
		}
	}
	if per[-1] != 0 {
		t.Errorf("the server saw %d requests from no known worker", per[-1])
	}
	return s
}

// checkStoreFault fails t unless the store's outage reached the workers:
// some reservation failed, or took at least d (a policy that waits for the
// store).
func (f *fleet) checkStoreFault(s summary, d time.Duration) {
	f.t.Helper()
	if s.reserveErrors == 0 && s.maxReserve < d {
		f.t.Errorf("no reservation failed and the longest took %s: the store's outage did not reach the workers", s.maxReserve)
	}
}

// checkBudget fails t when the fleet went over the limit, as the workers'
// own records and the API saw it, counted where jitter cannot hide an
// admission:
//   - an attempt was handed to the network without a reservation of its
//     own, or the API answered a 429;
//   - a window of one interval, ten, one second or the whole run certainly
//     holds more than the limit allows, by the slots the workers' Waits
//     were granted (limitertest.CheckSpans: no tolerance);
//   - the run holds more than Bound(run + 1 µs) attempts, by the workers'
//     count and by the API's: every slot lies in [start, end];
//   - a window of the API's arrivals (those of reservations answered
//     within a quarter interval: see arrivalJitter), shrunk by the jitter
//     measured between their slots and their arrivals, holds more
//     than Bound of the whole window; that jitter must stay under one
//     interval, so that the shrinking never forgives a whole interval
//     (checkBudgetPlus, which allows extra slots, checks the windows that
//     jitter leaves room for);
//   - an arrival matches no admission of a reporting worker (the workers
//     in killed could not report theirs).
func (f *fleet) checkBudget(rs []workerResult, killed ...int) {
	f.t.Helper()
	f.checkBudgetPlus(rs, 0, killed...)
}

// checkBudgetPlus is checkBudget allowing extra admissions in every window
// (and 429s when extra is not 0): the documented outcome of a store that
// lost its data.
func (f *fleet) checkBudgetPlus(rs []workerResult, extra int, killed ...int) {
	t := f.t
	t.Helper()
	st := f.srv.Stats()
	if st.TooMany != 0 && extra == 0 {
		t.Errorf("the API answered %d of %d requests with 429", st.TooMany, st.Total)
	}
	for _, r := range rs {
		if r.Unreserved != 0 {
			t.Errorf("worker %d handed %d attempts to the network without a reservation of their own", r.Index, r.Unreserved)
		}
	}
	run := f.end.Sub(f.start)
	spans := f.spans(rs, nil)
	T := lim.Interval()
	if extra == 0 {
		limitertest.CheckSpans(t, spans, lim, run)
	} else {
		for _, w := range []time.Duration{T, 10 * T, time.Second, run} {
			if got, most := limitertest.MaxCertainInWindow(spans, w), limitertest.Bound(lim, w)+extra; got > most {
				t.Errorf("%d admissions certainly in a window of %s: want at most %d (the limit %s plus %d)", got, w, most, lim, extra)
			}
		}
	}
	most := limitertest.Bound(lim, run+time.Microsecond) + extra
	if len(spans) > most || st.Total > most {
		t.Errorf("the workers recorded %d admissions and the API saw %d requests in a run of %s: want at most %d (the limit %s plus %d)",
			len(spans), st.Total, run, most, lim, extra)
	}
	ts, tol, slow := f.arrivalJitter(rs, killed)
	switch {
	case extra == 0 && tol >= T:
		t.Errorf("the API's arrivals lie up to %s from their slots, one interval (%s) or more: their windows cannot be checked", tol, T)
	case extra == 0:
		limitertest.CheckWindows(t, ts, lim, tol)
	default:
		// With an allowance of extra slots per window, one interval's
		// precision is moot: windows the jitter leaves room for.
		for _, w := range []time.Duration{T, 10 * T, time.Second} {
			if w <= tol {
				t.Logf("arrivals within %s of their slots: windows of %s not checked on them", tol, w)
				continue
			}
			if got, most := limitertest.MaxInWindow(ts, w-tol), limitertest.Bound(lim, w)+extra; got > most {
				t.Errorf("%d arrivals in a window of %s (%s less the jitter): want at most %d (the limit %s plus %d)", got, w-tol, w, most, lim, extra)
			}
		}
	}
	if t.Failed() {
		logFullest(t, ts, time.Second-min(tol, T))
	}
	t.Logf("budget: %d admissions recorded, %d requests seen by the API (at most %d allowed in %s); arrivals within %s of their slots (%d of slow reservations not counted in their windows)",
		len(spans), st.Total, most, run, tol.Round(time.Microsecond), slow)
}

// spans returns the slots of the reporting workers' admissions (those keep
// accepts, all when nil), from the start of the run.
func (f *fleet) spans(rs []workerResult, keep func(limitertest.Span) bool) []limitertest.Span {
	var out []limitertest.Span
	for _, r := range rs {
		for _, a := range r.Admissions {
			s := limitertest.Span{Lo: time.Duration(a.Lo - f.base.Start), Hi: time.Duration(a.Hi - f.base.Start)}
			if keep == nil || keep(s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// arrivalJitter matches the API's arrivals to the workers' admissions (by
// their attempt parameter) and returns the arrivals to count in windows
// and how far they may lie from their slots: each arrival comes e after
// its slot, with e between arrival - Hi (Wait sleeps until Hi at least)
// and arrival - Lo; the spread of e over the arrivals counted (largest
// upper minus smallest lower) is the tolerance their windows need. The
// arrivals of reservations that took more than a quarter interval (those
// retried through a store outage, or stalled) are not counted: their
// spread would make every window unreadable, and their slots are held to
// the bound by the span check (as precisely as their span allows) and by
// the run's total. The arrivals of the workers in killed, which could not
// report their admissions, are counted with the tolerance of the others.
// Fails t for any other arrival with no admission, or one before its Wait
// could have returned.
func (f *fleet) arrivalJitter(rs []workerResult, killed []int) (counted []time.Duration, tol time.Duration, slow int) {
	t := f.t
	t.Helper()
	byID := map[string]admission{}
	for _, r := range rs {
		for _, a := range r.Admissions {
			byID[a.ID] = a
		}
	}
	narrow := lim.Interval() / 4
	var emin, emax time.Duration
	first := true
	for _, req := range f.srv.Requests() {
		at := req.At.UnixNano()
		a, ok := byID[req.Query.Get("attempt")]
		if !ok {
			w, err := strconv.Atoi(req.Query.Get("worker"))
			if err != nil || !slices.Contains(killed, w) {
				t.Errorf("the API saw a request (attempt %q of worker %q) that no worker recorded as admitted",
					req.Query.Get("attempt"), req.Query.Get("worker"))
				continue
			}
			counted = append(counted, req.At.Sub(f.start))
			continue
		}
		lo, hi := time.Duration(at-a.Hi), time.Duration(at-a.Lo)
		if lo < 0 {
			t.Errorf("attempt %s arrived %s before its Wait could have returned", a.ID, -lo)
		}
		if time.Duration(a.Hi-a.Lo) > narrow {
			slow++
			continue
		}
		counted = append(counted, req.At.Sub(f.start))
		if first {
			emin, emax, first = lo, hi, false
		}
		emin, emax = min(emin, lo), max(emax, hi)
	}
	return counted, max(0, emax-emin), slow
}

// checkUsage fails t when the attempts handed to the network in [from, to)
// of the run use less than 99 % of the limit's budget over the part of it
// they cover: from the first to the last instant a Wait returned
// (admission.Sent), held to Bound of that span (limitertest.CheckUsage).
// Measured so, the edges where the limiter was not yet or no longer
// saturated (the first reservation's round trip after the start, the slot
// after the last one that fits before the end) are left out, and nothing
// else is: the caller chooses [from, to) as a part of the run where
// waiters were always queued. (Slots are not used here: a reservation
// retried through a store outage has a span as wide as the outage, which
// says nothing of where in it the slot lay; the instant its Wait returned
// lies a round trip after the slot.)
func (f *fleet) checkUsage(rs []workerResult, from, to time.Duration) {
	f.t.Helper()
	var times []time.Duration
	for _, r := range rs {
		for _, a := range r.Admissions {
			if at := time.Duration(a.Sent - f.base.Start); at >= from && at < to {
				times = append(times, at)
			}
		}
	}
	if len(times) < 2 {
		f.t.Errorf("%d attempts between %s and %s of the run: nothing to measure", len(times), from, to)
		return
	}
	span := slices.Max(times) - slices.Min(times) + time.Microsecond
	budget := limitertest.Bound(lim, span)
	f.t.Logf("usage between %s and %s: %d attempts over %s, where the limit allows %d (%.1f %%)",
		from.Round(time.Millisecond), to, len(times), span.Round(time.Millisecond), budget, 100*float64(len(times))/float64(budget))
	limitertest.CheckUsage(f.t, times, lim, 0)
}

// logFullest logs the arrivals around the fullest window of length w.
func logFullest(t *testing.T, times []time.Duration, w time.Duration) {
	ts, bi, best := limitertest.FullestWindow(times, w)
	var b strings.Builder
	for k := max(0, bi-2); k < min(len(ts), bi+best+2); k++ {
		fmt.Fprintf(&b, " %s", ts[k].Round(time.Millisecond))
	}
	t.Logf("fullest window of %s holds %d arrivals:%s", w, best, b.String())
}

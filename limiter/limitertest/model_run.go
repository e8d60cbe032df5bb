package limitertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// ModelChecksEnv is the environment variable that sets how many random
// sequences RunModel tries (for example SHAREDLIMIT_MODEL_CHECKS=5000);
// rapid's own -rapid.checks flag, when given, wins over both it and
// ModelOptions.Checks.
const ModelChecksEnv = "SHAREDLIMIT_MODEL_CHECKS"

// ModelOptions tunes RunModel.
type ModelOptions struct {
	// Checks is the number of sequences of a plain run. The default value
	// is 300.
	Checks int
	// Steps is the most steps of one sequence. The default value is 40.
	Steps int
	// MaxBack is how far below the latest time it has shown the store's
	// clock may be stepped back (Advance is then called with negative
	// durations): 0, the default, never steps back. A store that obeys a
	// step back only within a slack (SQLite: 1 s) sets the slack.
	MaxBack time.Duration
	// Handles is the number of handles the steps are spread over. The
	// default value is 2.
	Handles int
}

// modelRun counts RunModel's sequences, so that each uses keys of its own
// on the one shared state.
var modelRun atomic.Int64

// RunModel runs random sequences of AllowN, ReserveN, Allow and Reserve of
// one to three needs, Cancel of any earlier reservation, Hold, Reset,
// Status, limit changes on live keys and clock steps on two handles of one
// harness, and compares every answer with a reference model of docs/design.md's
// GCRA. A failing sequence is shrunk by rapid to a minimal one, which the
// failure prints step by step.
//
// With a harness whose clock cannot be moved (Advance nil: a real Redis)
// the sequences make no clock steps, use limits whose Period is an hour,
// and compare each duration within the time the sequence has run.
func RunModel(t *testing.T, newHarness func(testing.TB) Harness, opts ModelOptions) {
	if opts.Steps == 0 {
		opts.Steps = 40
	}
	setChecks(t, opts.Checks, 300)
	h := newHarness(t)
	if opts.Handles == 0 {
		opts.Handles = 2
	}
	var hs []limiter.Limiter
	for range opts.Handles {
		l := h.Open(t)
		t.Cleanup(func() { l.Close() })
		hs = append(hs, l)
	}
	if h.Advance != nil {
		h.Advance(time.Second) // no tat of the model's is near the store's zero
	}
	rapid.Check(t, func(rt *rapid.T) {
		s := &modelSeq{rt: rt, h: h, hs: hs, opts: opts, m: newRefModel(), start: time.Now(),
			prefix: fmt.Sprintf("model%d-", modelRun.Add(1))}
		s.run()
	})
}

// setChecks sets rapid's number of checks unless the command line did:
// ModelChecksEnv's, or n, or def when n is 0.
func setChecks(t *testing.T, n, def int) {
	if n == 0 {
		n = def
	}
	if v := os.Getenv(ModelChecksEnv); v != "" {
		e, err := strconv.Atoi(v)
		if err != nil || e < 1 {
			t.Fatalf("%s=%q: want a positive number of sequences", ModelChecksEnv, v)
		}
		n = e
	}
	f := flag.Lookup("rapid.checks")
	if f == nil {
		t.Fatal("rapid registers no -rapid.checks flag")
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if !given {
		if err := f.Value.Set(strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// modelLimits are the limits of sequences on a clock the test moves:
// emission intervals of 200 ms to 60 s, bursts of 1 to 4.
var modelLimits = []limiter.Limit{
	{Rate: 1, Period: time.Second, Burst: 1},
	{Rate: 5, Period: time.Second, Burst: 3},
	{Rate: 3, Period: 10 * time.Second, Burst: 2},
	{Rate: 1, Period: time.Minute, Burst: 4},
	{Rate: 2, Period: time.Second, Burst: 4},
}

// realLimits are the limits on a real clock: an hour's Period and whole
// seconds everywhere, so that the milliseconds a sequence runs never move
// a decision or a Remaining.
var realLimits = []limiter.Limit{
	{Rate: 1, Period: time.Hour, Burst: 1},
	{Rate: 4, Period: time.Hour, Burst: 3},
	{Rate: 6, Period: time.Hour, Burst: 2},
	{Rate: 2, Period: 2 * time.Hour, Burst: 4},
}

const modelKeys = 3

type modelSeq struct {
	rt     *rapid.T
	h      Harness
	hs     []limiter.Limiter
	opts   ModelOptions
	m      *refModel
	prefix string
	start  time.Time // real time of the sequence's start
	now    int64     // the model's clock, µs
	latest int64     // the latest time the clock has shown
	limit  [modelKeys]int
	res    []modelRes
}

// modelRes is a reservation the sequence holds.
type modelRes struct {
	r     *limiter.Reservation
	undo  []refUndo
	at    time.Time // real time after the call returned
	delay time.Duration
	done  bool
}

func (s *modelSeq) real() bool { return s.h.Advance == nil }

func (s *modelSeq) limits() []limiter.Limit {
	if s.real() {
		return realLimits
	}
	return modelLimits
}

func (s *modelSeq) key(i int) string { return s.prefix + strconv.Itoa(i) }

func refNeedOf(key string, l limiter.Limit, n int) refNeed {
	p := l.Period.Microseconds()
	t := (p + int64(l.Rate) - 1) / int64(l.Rate)
	return refNeed{key: key, n: int64(n), t: t, tau: t * int64(l.Burst)}
}

func (s *modelSeq) run() {
	ls := s.limits()
	for i := range s.limit {
		s.limit[i] = rapid.IntRange(0, len(ls)-1).Draw(s.rt, "limit of key "+strconv.Itoa(i))
	}
	ops := []string{"AllowN", "ReserveN", "Allow", "Reserve", "Cancel", "Hold", "Reset", "Status", "Relimit"}
	if !s.real() {
		ops = append(ops, "Step", "Step")
	}
	steps := rapid.IntRange(1, s.opts.Steps).Draw(s.rt, "steps")
	for i := range steps {
		op := rapid.SampledFrom(ops).Draw(s.rt, "op")
		s.step(i, op)
	}
}

// needs draws one need (shorthand) or one to three of distinct keys.
func (s *modelSeq) needs(one bool) ([]limiter.Need, []refNeed, bool) {
	ks := []int{rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key")}
	if !one {
		ks = rapid.SliceOfNDistinct(rapid.IntRange(0, modelKeys-1), 1, 3, rapid.ID[int]).Draw(s.rt, "keys")
	}
	var ns []limiter.Need
	var rs []refNeed
	over := false
	for _, k := range ks {
		l := s.limits()[s.limit[k]]
		n := rapid.IntRange(1, l.Burst+1).Draw(s.rt, "n")
		over = over || n > l.Burst
		ns = append(ns, limiter.Need{Key: s.key(k), Limit: l, N: n})
		rs = append(rs, refNeedOf(s.key(k), l, n))
	}
	return ns, rs, over
}

func (s *modelSeq) failf(format string, args ...any) {
	s.rt.Helper()
	s.rt.Fatalf(format, args...)
}

func (s *modelSeq) step(i int, op string) {
	ctx := context.Background()
	l := s.hs[rapid.IntRange(0, len(s.hs)-1).Draw(s.rt, "handle")]
	switch op {
	case "AllowN", "Allow":
		ns, rs, over := s.needs(op == "AllowN")
		s.rt.Logf("%d: %s %s", i, op, fmtNeeds(ns))
		var res limiter.Result
		var err error
		if op == "AllowN" {
			res, err = l.AllowN(ctx, ns[0].Key, ns[0].Limit, ns[0].N)
		} else {
			res, err = l.Allow(ctx, ns...)
		}
		if s.overErr(err, over) {
			return
		}
		a := s.m.take(s.now, rs, s.modelMaxWait(rs, 0, res.Allowed))
		s.checkResult(op, res.Allowed, 0, res.RetryAfter, res.Binding, res.Remaining, res.ResetAfter, res.Needs, op == "AllowN", a)
	case "ReserveN", "Reserve":
		ns, rs, over := s.needs(op == "ReserveN")
		maxWait := s.maxWait(rs)
		s.rt.Logf("%d: %s maxWait %s %s", i, op, maxWait, fmtNeeds(ns))
		var r *limiter.Reservation
		var err error
		if op == "ReserveN" {
			r, err = l.ReserveN(ctx, ns[0].Key, ns[0].Limit, ns[0].N, maxWait)
		} else {
			r, err = l.Reserve(ctx, maxWait, ns...)
		}
		if s.overErr(err, over) {
			return
		}
		a := s.m.take(s.now, rs, s.modelMaxWait(rs, maxWait.Microseconds(), r.OK))
		s.checkResult(op, r.OK, r.Delay, r.RetryAfter, r.Binding, r.Remaining, r.ResetAfter, r.Needs, op == "ReserveN", a)
		if r.OK {
			s.res = append(s.res, modelRes{r: r, undo: a.undo, at: time.Now(), delay: r.Delay})
		}
	case "Cancel":
		if len(s.res) == 0 {
			return
		}
		j := rapid.IntRange(0, len(s.res)-1).Draw(s.rt, "reservation")
		mr := &s.res[j]
		switch {
		case mr.done || mr.delay == 0:
			// Used (Delay 0: its slot has come) or given back: a no-op.
		case time.Since(mr.at)+2*time.Second < mr.delay:
			s.m.cancel(mr.undo)
		default:
			return // its slot may have come on the real clock: not decidable
		}
		s.rt.Logf("%d: Cancel reservation %d", i, j)
		mr.done = true
		if err := mr.r.Cancel(ctx); err != nil {
			s.failf("Cancel: %v", err)
		}
	case "Hold":
		k := rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key")
		lim := s.limits()[s.limit[k]]
		nd := refNeedOf(s.key(k), lim, 1)
		d := time.Duration(rapid.IntRange(0, 3*int(nd.t)).Draw(s.rt, "hold µs")) * time.Microsecond
		if s.real() {
			d = d.Truncate(time.Second)
			if s.now+d.Microseconds()+nd.tau-nd.t < s.m.get(nd.key).tat+time.Second.Microseconds() {
				return // the hold's +1 µs would meet the real clock's drift
			}
		}
		s.rt.Logf("%d: Hold %s %s %s", i, nd.key, lim, d)
		if err := l.Hold(ctx, nd.key, lim, d); err != nil {
			s.failf("Hold: %v", err)
		}
		s.m.hold(s.now, nd, d.Microseconds())
	case "Reset":
		k := s.key(rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key"))
		s.rt.Logf("%d: Reset %s", i, k)
		if err := l.Reset(ctx, k); err != nil {
			s.failf("Reset: %v", err)
		}
		s.m.reset(k)
	case "Status":
		k := rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key")
		lim := s.limits()[s.limit[k]]
		s.rt.Logf("%d: Status %s %s", i, s.key(k), lim)
		st, err := l.Status(ctx, s.key(k), lim)
		if err != nil {
			s.failf("Status: %v", err)
		}
		rem, next, full := s.m.status(s.now, refNeedOf(s.key(k), lim, 1))
		if int64(st.Remaining) != rem || !s.near(st.NextAfter, next) || !s.near(st.FullAfter, full) {
			s.failf("Status: got Remaining %d NextAfter %s FullAfter %s, model %d %s %s",
				st.Remaining, st.NextAfter, st.FullAfter, rem, us(next), us(full))
		}
	case "Relimit":
		k := rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key")
		s.limit[k] = rapid.IntRange(0, len(s.limits())-1).Draw(s.rt, "new limit")
		s.rt.Logf("%d: key %s now under %s", i, s.key(k), s.limits()[s.limit[k]])
	case "Step":
		s.clockStep(i)
	}
}

// clockStep moves the store's clock: a random amount, exactly k·T of a
// key's limit, or 1 µs; back only within MaxBack of the latest time.
func (s *modelSeq) clockStep(i int) {
	k := rapid.IntRange(0, modelKeys-1).Draw(s.rt, "key")
	t := refNeedOf("", s.limits()[s.limit[k]], 1).t
	var d int64
	switch rapid.IntRange(0, 3).Draw(s.rt, "step kind") {
	case 0:
		d = int64(rapid.IntRange(0, 2*int(t)).Draw(s.rt, "step µs"))
	case 1:
		d = int64(rapid.IntRange(1, 3).Draw(s.rt, "k")) * t
	case 2:
		d = 1
	case 3:
		room := s.now - (s.latest - s.opts.MaxBack.Microseconds())
		if room <= 0 {
			return
		}
		d = -int64(rapid.IntRange(1, int(room)).Draw(s.rt, "back µs"))
		if kt := int64(rapid.IntRange(1, 3).Draw(s.rt, "back k")) * t; kt <= room && rapid.Bool().Draw(s.rt, "back k·T") {
			d = -kt
		}
	}
	s.rt.Logf("%d: clock %+d µs", i, d)
	s.h.Advance(us(d))
	s.now += d
	s.latest = max(s.latest, s.now)
}

// maxWait draws a Reserve's maxWait: random, or exactly the wait the model
// computes, or 1 µs below it (on a real clock: whole seconds plus half a
// second, which no drift of the clock crosses).
func (s *modelSeq) maxWait(rs []refNeed) time.Duration {
	wait := s.modelWait(rs)
	if s.real() {
		return time.Duration(rapid.IntRange(0, int(wait/1e6)+1).Draw(s.rt, "maxWait s"))*time.Second + 500*time.Millisecond
	}
	switch rapid.IntRange(0, 2).Draw(s.rt, "maxWait kind") {
	case 0:
		return us(int64(rapid.IntRange(0, int(max(wait, 1)*2)).Draw(s.rt, "maxWait µs")))
	case 1:
		return us(wait)
	default:
		return us(max(0, wait-1))
	}
}

// modelWait is the wait the model computes for rs now.
func (s *modelSeq) modelWait(rs []refNeed) int64 {
	wait := int64(0)
	for _, nd := range rs {
		wait = max(wait, s.m.get(nd.key).tat+nd.n*nd.t-nd.tau-s.now)
	}
	return wait
}

// modelMaxWait is the maxWait the model decides with: the request's, but
// where the wait is within the harness's Tolerance of it (redis_rate's
// float seconds round either way there), the backend's decision, so that
// model and store go on from one state.
func (s *modelSeq) modelMaxWait(rs []refNeed, maxWait int64, ok bool) int64 {
	wait := s.modelWait(rs)
	if tol := s.h.Tolerance.Microseconds(); tol > 0 && !s.real() && wait-maxWait <= tol && maxWait-wait <= tol {
		if ok {
			return wait
		}
		return wait - 1
	}
	return maxWait
}

// overErr checks the error of a request: ErrExceedsBurst when a need asks
// more than its Burst (it reports true: nothing changed), none otherwise.
func (s *modelSeq) overErr(err error, over bool) bool {
	s.rt.Helper()
	if over {
		if !errors.Is(err, limiter.ErrExceedsBurst) {
			s.failf("n > Burst: got error %v, want ErrExceedsBurst", err)
		}
		return true
	}
	if err != nil {
		s.failf("unexpected error %v", err)
	}
	return false
}

func (s *modelSeq) checkResult(op string, ok bool, delay, retry time.Duration, binding, remaining int,
	resetAfter time.Duration, needs []limiter.NeedResult, short bool, a refAnswer) {
	s.rt.Helper()
	wantDelay, wantRetry := int64(0), a.wait
	if a.ok {
		wantDelay, wantRetry = a.wait, 0
	}
	b := a.binding
	if binding >= 0 && binding < len(a.slots) && s.tie(a.slots[binding], a.slots[b]) {
		b = binding // a tie the store's clock may break either way
	}
	if ok != a.ok || !s.near(delay, wantDelay) || !s.near(retry, wantRetry) || binding != b ||
		int64(remaining) != a.remaining[b] || !s.near(resetAfter, a.resetAfter[b]) {
		s.failf("%s: got ok %v delay %s retryAfter %s binding %d remaining %d resetAfter %s; model %v %s %s %d %d %s",
			op, ok, delay, retry, binding, remaining, resetAfter,
			a.ok, us(wantDelay), us(wantRetry), b, a.remaining[b], us(a.resetAfter[b]))
	}
	if short {
		if needs != nil {
			s.failf("%s: Needs %v, want nil for a shorthand", op, needs)
		}
		return
	}
	if len(needs) != len(a.remaining) {
		s.failf("%s: %d need results, want %d", op, len(needs), len(a.remaining))
	}
	for i, nr := range needs {
		if int64(nr.Remaining) != a.remaining[i] || !s.near(nr.ResetAfter, a.resetAfter[i]) {
			s.failf("%s: need %d (%s): got remaining %d resetAfter %s, model %d %s",
				op, i, nr.Key, nr.Remaining, nr.ResetAfter, a.remaining[i], us(a.resetAfter[i]))
		}
	}
}

// tie reports whether a need's slot si ties the binding one's s where the
// store may break the tie either way: within the harness's Tolerance
// (float seconds), or on a real clock within a second (the model's slots
// are whole seconds there, and writes at different instants of the store's
// clock break its ties). An exact store has no ties: the first binds.
func (s *modelSeq) tie(si, smax int64) bool {
	tol := s.h.Tolerance.Microseconds()
	if s.real() {
		tol += time.Second.Microseconds() - 1
	}
	return tol > 0 && smax-si <= tol
}

// near compares a duration with the model's µs: within the harness's
// Tolerance, and on a real clock up to the time the sequence has run
// below it (the store's clock is that much later than the model's).
func (s *modelSeq) near(got time.Duration, want int64) bool {
	w := us(want)
	lo := w - s.h.Tolerance
	if s.real() {
		lo -= time.Since(s.start)
	}
	return got >= max(0, lo) && got <= w+s.h.Tolerance || got == w
}

func us(x int64) time.Duration { return time.Duration(x) * time.Microsecond }

func fmtNeeds(ns []limiter.Need) string {
	out := ""
	for _, nd := range ns {
		out += fmt.Sprintf(" %s:%d of %s", nd.Key, nd.N, nd.Limit)
	}
	return out
}

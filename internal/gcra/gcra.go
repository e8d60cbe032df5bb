package gcra

import (
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// Params are a Limit in microseconds.
type Params struct {
	// T is the emission interval.
	T int64
	// Tau is Burst*T, the tolerance.
	Tau int64
}

// ParamsOf converts a valid Limit.
func ParamsOf(l limiter.Limit) Params {
	t := l.Interval().Microseconds()
	return Params{T: t, Tau: t * int64(l.Burst)}
}

// Decision is the outcome of Allow or Reserve.
type Decision struct {
	// OK reports whether the tokens were taken; then TAT is the value to
	// store.
	OK  bool
	TAT int64
	// Wait is, for a granted reservation, how long until its slot.
	Wait       int64
	Remaining  int64
	RetryAfter int64
	ResetAfter int64
}

// Allow takes n tokens at now when they fit in the burst.
func Allow(tat, now int64, p Params, n int64) Decision {
	return Reserve(tat, now, p, n, 0)
}

// Reserve takes a slot for n tokens when it comes within maxWait.
func Reserve(tat, now int64, p Params, n, maxWait int64) Decision {
	base := max(tat, now)
	next := base + n*p.T
	wait := max(0, next-now-p.Tau)
	if wait <= maxWait {
		return Decision{OK: true, TAT: next, Wait: wait,
			Remaining: max(0, (p.Tau-(next-now))/p.T), ResetAfter: next - now}
	}
	return Decision{TAT: tat, RetryAfter: next - now - p.Tau,
		Remaining: max(0, (p.Tau-(base-now))/p.T), ResetAfter: base - now}
}

// Hold returns the tat after a hold of d: no token for d, then the steady
// rate. The tat always changes, by one microsecond at least, so that a
// reservation granted before the hold can no longer be cancelled: its
// cancel would otherwise take the tat below the hold. (Every backend also
// gives each write a token of its own, which a cancel compares.)
func Hold(tat, now int64, p Params, d int64) int64 {
	return max(tat+1, now+d+p.Tau-p.T)
}

// Status reports a key without changing it.
func Status(tat, now int64, p Params) limiter.Status {
	base := max(tat, now)
	return limiter.Status{
		Remaining: int(max(0, (p.Tau-(base-now))/p.T)),
		NextAfter: US(max(0, base+p.T-now-p.Tau)),
		FullAfter: US(base - now),
	}
}

// Idle reports whether a stored tat is as good as no row at now.
func Idle(tat, now int64) bool { return tat <= now }

// Result converts a Decision from Allow.
func (d Decision) Result() limiter.Result {
	return limiter.Result{Allowed: d.OK, Remaining: int(d.Remaining),
		RetryAfter: US(d.RetryAfter), ResetAfter: US(d.ResetAfter)}
}

// US converts microseconds to a Duration.
func US(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// MaxWaitUS converts a maxWait to microseconds, rounding down and saturating.
func MaxWaitUS(d time.Duration) int64 { return int64(d / time.Microsecond) }

package gcra

import "github.com/sharedlimit/sharedlimit/limiter/driver"

// Take decides an Allow (maxWait 0) or a Reserve of needs on the keys'
// stored tats (tats[i] for needs[i], 0 for a key with none) at now, and
// fills ans. Granted, it writes each key's new tat into next[i] and
// returns true; refused, next is left alone.
//
// Each need allows a send at s_i = max(now, tat_i + n_i*T_i - tau_i); the
// request's slot is s = max_i s_i (the binding need is the first whose s_i
// is s). Granted when s - now <= maxWait: tat_i = max(tat_i, s) + n_i*T_i.
// With one need this is max(tat, now) + n*T, the GCRA of one limit, since
// n*T <= tau.
func Take(tats []int64, now int64, needs []driver.Need, maxWait int64, ans *driver.Answer, next []int64) bool {
	s, binding := now, 0
	for i, nd := range needs {
		if si := tats[i] + nd.N*nd.T - nd.Tau; si > s {
			s, binding = si, i
		}
	}
	wait := s - now
	ans.Binding = binding
	if cap(ans.Needs) >= len(needs) {
		ans.Needs = ans.Needs[:len(needs)]
	} else {
		ans.Needs = make([]driver.NeedAnswer, len(needs))
	}
	if wait > maxWait {
		ans.OK, ans.RetryAfter = false, wait
		for i, nd := range needs {
			base := max(tats[i], now)
			ans.Needs[i] = driver.NeedAnswer{Remaining: Remaining(base, now, nd.T, nd.Tau), ResetAfter: base - now}
		}
		return false
	}
	ans.OK, ans.Wait = true, wait
	for i, nd := range needs {
		t := max(tats[i], s) + nd.N*nd.T
		next[i] = t
		ans.Needs[i] = driver.NeedAnswer{Remaining: Remaining(t, now, nd.T, nd.Tau), ResetAfter: t - now}
	}
	// The binding key's new tat grows with every grant on that key; a
	// store deciding requests of several needs must give its own Order
	// (internal/memstore: its write sequence), since a later grant on one
	// of the keys may bind on a key whose tat is lower.
	ans.Order = next[binding]
	return true
}

// TakeOne is Take of one need: granted, it returns the key's new tat and
// true; refused, the wait the request would have needed and false.
func TakeOne(tat, now int64, nd driver.Need, maxWait int64) (driver.NeedAnswer, int64, bool) {
	s := max(now, tat+nd.N*nd.T-nd.Tau)
	if wait := s - now; wait > maxWait {
		base := max(tat, now)
		return driver.NeedAnswer{Remaining: Remaining(base, now, nd.T, nd.Tau), ResetAfter: base - now}, wait, false
	}
	t := max(tat, s) + nd.N*nd.T
	return driver.NeedAnswer{Remaining: Remaining(t, now, nd.T, nd.Tau), ResetAfter: t - now}, t, true
}

// Remaining is how many tokens fit at once when the key's tat is tat:
// max(0, floor((tau - (tat - now)) / T)) for tat >= now.
func Remaining(tat, now, t, tau int64) int64 { return max(0, (tau-(max(tat, now)-now))/t) }

// Hold returns the tat after a hold of d: no token for d, then the steady
// rate. A tat ahead of now moves by one microsecond at least, so that a
// reservation granted before the hold can no longer be cancelled below it;
// an idle tat is as good as none (a swept or expired key gives the same).
func Hold(tat, now, t, tau, d int64) int64 {
	held := now + d + tau - t
	if !Idle(tat, now) {
		held = max(held, tat+1)
	}
	return held
}

// Status reports a key without changing it: Remaining, ResetAfter (the
// time until full) and NextAfter.
func Status(tat, now, t, tau int64) driver.NeedAnswer {
	base := max(tat, now)
	return driver.NeedAnswer{Remaining: Remaining(base, now, t, tau), ResetAfter: base - now,
		NextAfter: max(0, base+t-now-tau)}
}

// Idle reports whether a stored tat is as good as no value at now.
func Idle(tat, now int64) bool { return tat <= now }

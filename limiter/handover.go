package limiter

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Under FailFallback a key has a bucket in two places, the store and the
// fallback, and a store that flaps hands the key from one to the other
// again and again. Each bucket must start where the other left off, or
// every switch finds a full bucket (issue 12: 30 admissions in 10 s where
// the limit allows 20). The Guard keeps a ledger of what each side last
// said of the key's tat, on the Guard's clock, and:
//
//   - before the fallback decides on a key, raises its tat to the store's
//     last known one;
//   - before the store decides on a key, raises its tat to the highest the
//     fallback reached by admitting (or holding) on it: the store is
//     charged with what the fallback admitted, once, at the key's first
//     call after an outage;
//   - does not act on a store answer that arrives after the fallback
//     admitted on the key (the call was in flight across a switch): the
//     call decides again, and the slot it took on the store is wasted.
//
// Raising is a Hold under the key's limit with a Burst of 1, which sets
// tat = max(tat + 1 µs, now + d): the target, whatever the tat was, and
// never lower. Fallback decisions run under the ledger's lock, and a store
// answer stands only if no fallback admission came between its call's
// start and its answer, so the admissions on one key form one sequence in
// which each is taken on a bucket whose tat is at least the one the
// previous left: a store decision after a fallback admission finds the
// store raised to it, a fallback decision after a store answer finds the
// fallback raised to it. A cancel gives back only the latest decision of
// its side (compare-and-set), which takes it out of the sequence; a slot
// given back after its side was raised into the other stays charged there.
//
// Why that keeps one process within the limit's bound plus one Burst. Let
// T and tau = Burst*T be the limit's interval and tolerance, T' >= T and
// Burst' the fallback's (its share's burst, or n when larger). A decision
// admitting n tokens at x on a side with interval Ti leaves the tat at
// least max(previous tat, x) + n*Ti and at most x + that side's tolerance.
// Take a half-open window [a, a+t) holding k admitted tokens: the tat
// after the first is above a, the tat after the last below a + t + its
// side's tolerance, so the tokens' sum of n*Ti is below t plus that
// tolerance. When the last is the store's, k*T < t + tau: k <= ceil(t/T) +
// Burst - 1, the limit's own bound. When it is the fallback's and admits
// n <= Burst', the fallback's tokens in the window (at least n) each cost
// T' - T more, so k*T < t + Burst'*T' - n*(T'-T), at most t + n*T (when
// Burst' = n) or t + (Burst'-1)*T' + T. The share keeps (Burst'-1)*T' <=
// (2*Burst-1)*T (its rate is at least half the scaled rate, its burst at
// most the scaled burst: see TestShareKeepsFlapBound), so k < t/T +
// 2*Burst: at most one Burst above the limit's bound, however often the
// store flaps. With Burst 1, or whenever (Burst'-1)*T' <= (Burst-1)*T, the
// bound is the limit's own.
//
// What this does not cover: other processes (each falls back on its own;
// the store is charged by each with its own admissions), a Reset of the key
// by another handle, and a store that loses its data.

// maxSwitches bounds how often one call is handed between the store and
// the fallback by a store that goes down and up while it is in flight.
const maxSwitches = 8

// handover is the ledger of a Guard under FailFallback.
type handover struct {
	mu     sync.Mutex
	stamp  uint64 // counts the fallback's admissions
	keys   map[string]*ledger
	writes int
}

// ledger is what the Guard knows of one key's tat on each side, in
// nanoseconds of the Guard's clock since the Guard was made.
type ledger struct {
	// s is the store's tat as the answers acted on (and the raises) left
	// it, rounded up: its admissions by this Guard are all below it.
	s int64
	// f is the highest tat the fallback reached by admitting or holding,
	// rounded up; fSeed is the last s the fallback was raised to.
	f, fSeed int64
	// lastF is the stamp of the fallback's last admission on the key.
	lastF uint64
	// inflight counts the store calls between beginStore and endStore (a
	// ledger in use is not swept); raising is closed when the raise of
	// the store ends (nil when none runs).
	inflight int
	raising  chan struct{}
}

// sweepLedgerEvery is how many writes pass between sweeps of the ledgers
// of keys that are full on both sides.
const sweepLedgerEvery = 4096

// raiseMargin is added to every raise: the stores count in whole
// microseconds on clocks of their own, so that their now may be up to a
// microsecond behind the Guard's reading.
const raiseMargin = time.Microsecond

func newHandover() *handover { return &handover{keys: make(map[string]*ledger)} }

// ledger returns key's ledger, new when there is none; mu is held.
func (h *handover) ledger(key string) *ledger {
	l := h.keys[key]
	if l == nil {
		l = &ledger{}
		h.keys[key] = l
	}
	return l
}

// wrote counts a write and, now and then, drops the ledgers that hold
// nothing to hand over: both sides full at now, no call in flight. mu is
// held.
func (h *handover) wrote(now int64) {
	if h.writes++; h.writes < sweepLedgerEvery {
		return
	}
	h.writes = 0
	for k, l := range h.keys {
		if l.inflight == 0 && l.raising == nil && max(l.s, l.f, l.fSeed) <= now {
			delete(h.keys, k)
		}
	}
}

// clock is the Guard's clock in nanoseconds since NewGuard.
func (g *Guard) clock() int64 { return int64(g.p.Now().Sub(g.base)) }

// ns is d in nanoseconds of the ledger.
func ns(d time.Duration) int64 { return int64(d) }

// raise makes lim's tat for key at least target on the Guard's clock, now
// being t0, whatever the tat is: a Hold under a Burst of 1, whose tat is
// max(tat + 1 µs, now + d). It returns d.
func raise(ctx context.Context, lim Limiter, key string, limit Limit, target, t0 int64) (time.Duration, error) {
	d := time.Duration(target - t0)
	if r := d % time.Microsecond; r != 0 {
		d += time.Microsecond - r
	}
	d = min(d+raiseMargin, maxTolerance)
	return d, lim.Hold(ctx, key, limit.WithBurst(1), d)
}

// beginStore readies a store decision on key: once the store has been
// raised to what the fallback admitted (by this caller, or by another one
// it waits for), it takes a stamp for endStore. ok is false when the Guard
// is degraded: the fallback decides.
func (g *Guard) beginStore(ctx context.Context, key string, limit Limit) (stamp uint64, ok bool, err error) {
	h := g.ho
	for {
		h.mu.Lock()
		if g.down.Load() {
			h.mu.Unlock()
			return 0, false, nil
		}
		l := h.ledger(key)
		t0 := g.clock()
		if l.f <= max(l.s, t0) {
			l.inflight++
			stamp = h.stamp
			h.mu.Unlock()
			return stamp, true, nil
		}
		if wait := l.raising; wait != nil {
			h.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0, false, ctx.Err()
			}
		}
		done := make(chan struct{})
		l.raising, l.inflight = done, l.inflight+1
		target := l.f
		h.mu.Unlock()
		d, err := raise(ctx, g.store, key, limit, target, t0)
		t1 := g.clock()
		h.mu.Lock()
		l.raising, l.inflight = nil, l.inflight-1
		close(done)
		if err == nil {
			l.s = max(l.s, t1+ns(d))
		}
		h.mu.Unlock()
		if err != nil {
			return 0, false, err
		}
	}
}

// endStore records the store's answer (resetAfter, read at t1) to a call
// begun with stamp; answered is false when the call failed. It reports
// whether the answer stands: false when the fallback admitted on the key
// meanwhile.
func (g *Guard) endStore(key string, stamp uint64, t1 int64, resetAfter time.Duration, answered bool) bool {
	h := g.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.keys[key] // kept by inflight
	l.inflight--
	if !answered || l.lastF > stamp {
		return false
	}
	l.s = max(l.s, t1+ns(resetAfter))
	h.wrote(t1)
	return true
}

// storeAnswered records the store's answer (resetAfter, or err) to a
// call op begun with stamp, as endStore does, and reports whether the call
// returns it: when the answer stands, or on an error that is not the
// store's. A store error is reported (failed); the call then goes on to
// the fallback, as it does after an answer that does not stand.
func (g *Guard) storeAnswered(ctx context.Context, op, key string, stamp uint64, resetAfter time.Duration, err error) bool {
	stands := g.endStore(key, stamp, g.clock(), resetAfter, err == nil)
	switch {
	case err == nil && stands:
		return true
	case err != nil && !isStoreError(err):
		return true
	case err != nil:
		g.failed(ctx, op, err)
	}
	return false
}

// onFallback runs decide on the fallback for key under the ledger's lock,
// after raising the fallback's tat to the store's. decide returns the
// fallback's ResetAfter and whether it admitted. ok is false when the
// Guard is no longer degraded: the store decides.
func (g *Guard) onFallback(ctx context.Context, key string, limit Limit, decide func() (time.Duration, bool, error)) (ok bool, err error) {
	h := g.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	if !g.down.Load() {
		return false, nil
	}
	l := h.ledger(key)
	if t0 := g.clock(); l.s > max(l.fSeed, t0) {
		if _, err := raise(ctx, g.p.Fallback, key, g.share(limit, 1), l.s, t0); err != nil {
			return true, err
		}
		l.fSeed = l.s
	}
	ra, admitted, err := decide()
	if err != nil || !admitted {
		return true, err
	}
	t1 := g.clock()
	h.stamp++
	l.lastF = h.stamp
	l.f = max(l.f, t1+ns(ra))
	h.wrote(t1)
	return true, nil
}

// heldStore records a Hold of d that the store took, read back at t1, so
// that the fallback holds too if the store goes down.
func (g *Guard) heldStore(key string, limit Limit, d time.Duration, t1 int64) {
	T := ns(limit.Interval())
	h := g.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.ledger(key)
	l.s = max(l.s, t1+ns(d)+T*int64(limit.Burst)-T)
	h.wrote(t1)
}

// holdFallback holds key on the fallback for d and records it, so that
// the store is held too when it answers again.
func (g *Guard) holdFallback(ctx context.Context, key string, limit Limit, d time.Duration) error {
	fl := g.share(limit, 1)
	T := ns(fl.Interval())
	h := g.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := g.p.Fallback.Hold(ctx, key, fl, d); err != nil {
		return err
	}
	t1 := g.clock()
	l := h.ledger(key)
	l.f = max(l.f, t1+ns(d)+T*int64(fl.Burst)-T)
	h.wrote(t1)
	return nil
}

// resetLedger forgets key on the fallback and in the ledger, after the
// store forgot it.
func (g *Guard) resetLedger(ctx context.Context, key string) {
	h := g.ho
	h.mu.Lock()
	defer h.mu.Unlock()
	_ = g.p.Fallback.Reset(ctx, key)
	if l := h.keys[key]; l != nil {
		l.s, l.f, l.fSeed = 0, 0, 0
	}
}

// givenBack wraps a reservation the fallback granted on key: after its
// cancel the ledger takes the fallback's tat as it is, so that the store
// is not charged with the slot given back. A cancel only undoes the latest
// decision, so that tat is still at least what every admission not
// cancelled left.
func (g *Guard) givenBack(key string, limit Limit, r *Reservation) *Reservation {
	if r == nil || !r.OK || r.cancel == nil {
		return r
	}
	w := NewReservation(r.Delay, r.Remaining, r.ResetAfter, func(ctx context.Context) error {
		h := g.ho
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := r.Cancel(ctx); err != nil {
			return err
		}
		st, err := g.p.Fallback.Status(ctx, key, g.share(limit, 1))
		if err != nil {
			return nil // the ledger keeps the higher tat: the store is charged the slot
		}
		if l := h.keys[key]; l != nil {
			l.f = min(l.f, g.clock()+ns(st.FullAfter))
		}
		return nil
	})
	w.at, w.inner = r.at, r
	return w
}

// flapped is the error of a call handed between the store and the
// fallback maxSwitches times.
func flapped(op string) error {
	return &UnavailableError{Op: op, Err: fmt.Errorf("the store went down and up %d times during the call", maxSwitches)}
}

// allowFallback is AllowN under FailFallback.
func (g *Guard) allowFallback(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := CheckArgs(key, limit, n); err != nil {
		return Result{}, err
	}
	for range maxSwitches {
		stamp, ok, err := g.beginStore(ctx, key, limit)
		if err != nil && !isStoreError(err) {
			return Result{}, err
		}
		if err != nil {
			g.failed(ctx, "AllowN", err)
		} else if ok {
			r, err := g.store.AllowN(ctx, key, limit, n)
			if g.storeAnswered(ctx, "AllowN", key, stamp, r.ResetAfter, err) {
				return r, err
			}
		}
		if err := g.closedErr(); err != nil {
			return Result{}, err
		}
		var r Result
		ok, err = g.onFallback(ctx, key, limit, func() (time.Duration, bool, error) {
			var err error
			r, err = g.p.Fallback.AllowN(ctx, key, g.share(limit, n), n)
			return r.ResetAfter, r.Allowed, err
		})
		if ok || err != nil {
			return r, err
		}
	}
	return Result{}, flapped("AllowN")
}

// reserveFallback is ReserveN under FailFallback. The time spent before
// the deciding call (a raise, a wait for another caller's raise, a store
// that failed) is taken off maxWait.
func (g *Guard) reserveFallback(ctx context.Context, key string, limit Limit, n int, maxWait time.Duration) (*Reservation, error) {
	if err := CheckArgs(key, limit, n); err != nil {
		return nil, err
	}
	if err := CheckMaxWait(maxWait); err != nil {
		return nil, err
	}
	start := g.clock()
	left := func() time.Duration { return max(0, maxWait-time.Duration(g.clock()-start)) }
	for range maxSwitches {
		stamp, ok, err := g.beginStore(ctx, key, limit)
		if err != nil && !isStoreError(err) {
			return nil, err
		}
		if err != nil {
			g.failed(ctx, "ReserveN", err)
		} else if ok {
			r, err := g.store.ReserveN(ctx, key, limit, n, left())
			var ra time.Duration
			if r != nil {
				ra = r.ResetAfter
			}
			if g.storeAnswered(ctx, "ReserveN", key, stamp, ra, err) {
				return r, err
			}
			// An answer that does not stand leaves its slot on the
			// store: the limit is kept, the slot wasted once.
		}
		if err := g.closedErr(); err != nil {
			return nil, err
		}
		var r *Reservation
		ok, err = g.onFallback(ctx, key, limit, func() (time.Duration, bool, error) {
			var err error
			r, err = g.p.Fallback.ReserveN(ctx, key, g.share(limit, n), n, left())
			if err != nil {
				return 0, false, err
			}
			return r.ResetAfter, r.OK, nil
		})
		if ok || err != nil {
			return g.givenBack(key, limit, r), err
		}
	}
	return nil, flapped("ReserveN")
}

// holdFallbackPolicy is Hold under FailFallback: on the store while it
// answers, else on the fallback; either way the ledger learns of it.
func (g *Guard) holdFallbackPolicy(ctx context.Context, key string, limit Limit, d time.Duration) error {
	if err := CheckHold(key, limit, d); err != nil {
		return err
	}
	if !g.Degraded() {
		err := g.store.Hold(ctx, key, limit, d)
		if err == nil {
			g.heldStore(key, limit, d, g.clock())
			return nil
		}
		if !isStoreError(err) {
			return err
		}
		g.failed(ctx, "Hold", err)
	}
	if err := g.closedErr(); err != nil {
		return err
	}
	return g.holdFallback(ctx, key, limit, d)
}

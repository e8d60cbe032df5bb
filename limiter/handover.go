package limiter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Under FailFallback a key has a bucket in two places, the store and the
// fallback, and a store that flaps hands the key from one to the other
// again and again. Each bucket must start where the other left off, or
// every switch finds a full bucket (issue 12: 30 admissions in 10 s where
// the limit allows 20). The Handle keeps a ledger of what each side last
// said of the key's tat, on the Handle's clock, and:
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

// handover is the ledger of a Handle under FailFallback.
type handover struct {
	mu     sync.Mutex
	stamp  uint64 // counts the fallback's admissions
	keys   map[string]*ledger
	writes int
}

// ledger is what the Handle knows of one key's tat on each side, in
// nanoseconds of the Handle's clock since the Handle was made.
type ledger struct {
	// s is the store's tat as the answers acted on (and the raises) left
	// it, rounded up: its admissions by this Handle are all below it.
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
// microsecond behind the Handle's reading.
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

// clock is the Handle's clock in nanoseconds since NewHandle.
func (h *Handle) clock() int64 { return int64(h.p.Now().Sub(h.base)) }

// ns is d in nanoseconds of the ledger.
func ns(d time.Duration) int64 { return int64(d) }

// raise makes st's tat for key at least target on the Handle's clock, now
// being t0, whatever the tat is: a Hold under a Burst of 1, whose tat is
// max(tat + 1 µs, now + d). It returns d.
func raise(ctx context.Context, st driver.Store, key string, limit Limit, target, t0 int64) (time.Duration, error) {
	d := time.Duration(target - t0)
	if r := d % time.Microsecond; r != 0 {
		d += time.Microsecond - r
	}
	d = min(d+raiseMargin, maxTolerance)
	return d, holdOn(ctx, st, key, limit.WithBurst(1), d)
}

// beginStore readies a store decision on needs: once the store has been
// raised, on every need's key, to what the fallback admitted (by this
// caller, or by another one it waits for), it takes a stamp for endStore.
// ok is false when the Handle is degraded: the fallback decides.
func (h *Handle) beginStore(ctx context.Context, needs []Need) (stamp uint64, ok bool, err error) {
	hv := h.ho
	for {
		hv.mu.Lock()
		if h.down.Load() {
			hv.mu.Unlock()
			return 0, false, nil
		}
		t0 := h.clock()
		var l *ledger
		var nd Need
		for _, n := range needs {
			if k := hv.ledger(n.Key); k.f > max(k.s, t0) {
				l, nd = k, n
				break
			}
		}
		if l == nil {
			for _, n := range needs {
				hv.keys[n.Key].inflight++
			}
			stamp = hv.stamp
			hv.mu.Unlock()
			return stamp, true, nil
		}
		if wait := l.raising; wait != nil {
			hv.mu.Unlock()
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
		hv.mu.Unlock()
		d, err := raise(ctx, h.store, nd.Key, nd.Limit, target, t0)
		t1 := h.clock()
		hv.mu.Lock()
		l.raising, l.inflight = nil, l.inflight-1
		close(done)
		if err == nil {
			l.s = max(l.s, t1+ns(d))
		}
		hv.mu.Unlock()
		if err != nil {
			return 0, false, err
		}
	}
}

// endStore records the store's answer a (read at t1) to a call on needs
// begun with stamp; a is nil when the call failed. It reports whether the
// answer stands: false when the fallback admitted on any of the keys
// meanwhile.
func (h *Handle) endStore(needs []Need, stamp uint64, t1 int64, a *driver.Answer) bool {
	hv := h.ho
	hv.mu.Lock()
	defer hv.mu.Unlock()
	stands := a != nil
	for _, nd := range needs {
		l := hv.keys[nd.Key] // kept by inflight
		l.inflight--
		if l.lastF > stamp {
			stands = false
		}
	}
	if !stands {
		return false
	}
	for i, nd := range needs {
		l := hv.keys[nd.Key]
		l.s = max(l.s, t1+ns(us(a.Needs[i].ResetAfter)))
	}
	hv.wrote(t1)
	return true
}

// storeAnswered records the store's answer (c's, or err) to a call op on
// needs begun with stamp, as endStore does, and reports whether the call
// returns it: when the answer stands, or on an error that is not the
// store's. A store error is reported (failed); the call then goes on to
// the fallback, as it does after an answer that does not stand.
func (h *Handle) storeAnswered(ctx context.Context, op string, needs []Need, stamp uint64, c *call, err error) bool {
	var a *driver.Answer
	if err == nil {
		a = &c.ans[0]
	}
	stands := h.endStore(needs, stamp, h.clock(), a)
	switch {
	case err == nil && stands:
		return true
	case err != nil && !isStoreError(err):
		return true
	case err != nil:
		h.failed(ctx, op, err)
	}
	return false
}

// onFallback runs decide on the fallback for needs under the ledger's
// lock, after raising the fallback's tat of every key to the store's.
// decide leaves its answer in c and reports whether it admitted. ok is
// false when the Handle is no longer degraded: the store decides.
func (h *Handle) onFallback(ctx context.Context, needs []Need, c *call, decide func() (bool, error)) (ok bool, err error) {
	hv := h.ho
	hv.mu.Lock()
	defer hv.mu.Unlock()
	if !h.down.Load() {
		return false, nil
	}
	t0 := h.clock()
	for _, nd := range needs {
		if l := hv.ledger(nd.Key); l.s > max(l.fSeed, t0) {
			if _, err := raise(ctx, h.fb, nd.Key, shareLimit(nd.Limit, h.p.FallbackShare, 1), l.s, t0); err != nil {
				return true, err
			}
			l.fSeed = l.s
		}
	}
	admitted, err := decide()
	if err != nil || !admitted {
		return true, err
	}
	t1 := h.clock()
	hv.stamp++
	for i, nd := range needs {
		l := hv.keys[nd.Key]
		l.lastF = hv.stamp
		l.f = max(l.f, t1+ns(us(c.ans[0].Needs[i].ResetAfter)))
	}
	hv.wrote(t1)
	return true, nil
}

// heldStore records a Hold of d that the store took, read back at t1, so
// that the fallback holds too if the store goes down.
func (h *Handle) heldStore(key string, limit Limit, d time.Duration, t1 int64) {
	T := ns(limit.Interval())
	hv := h.ho
	hv.mu.Lock()
	defer hv.mu.Unlock()
	l := hv.ledger(key)
	l.s = max(l.s, t1+ns(d)+T*int64(limit.Burst)-T)
	hv.wrote(t1)
}

// holdFallback holds key on the fallback for d and records it, so that
// the store is held too when it answers again.
func (h *Handle) holdFallback(ctx context.Context, key string, limit Limit, d time.Duration) error {
	fl := shareLimit(limit, h.p.FallbackShare, 1)
	T := ns(fl.Interval())
	hv := h.ho
	hv.mu.Lock()
	defer hv.mu.Unlock()
	if err := holdOn(ctx, h.fb, key, fl, d); err != nil {
		return err
	}
	t1 := h.clock()
	l := hv.ledger(key)
	l.f = max(l.f, t1+ns(d)+T*int64(fl.Burst)-T)
	hv.wrote(t1)
	return nil
}

// resetLedger forgets key on the fallback and in the ledger, after the
// store forgot it.
func (h *Handle) resetLedger(ctx context.Context, key string) {
	hv := h.ho
	hv.mu.Lock()
	defer hv.mu.Unlock()
	_ = resetOn(ctx, h.fb, key)
	if l := hv.keys[key]; l != nil {
		l.s, l.f, l.fSeed = 0, 0, 0
	}
}

// givenBack is the cancel of a reservation the fallback granted on needs:
// under the ledger's lock, after the fallback's cancel, the ledger takes
// the fallback's tat of each key as it is, so that the store is not charged
// with the slot given back. A cancel only undoes the latest decision, so
// that tat is still at least what every admission not cancelled left.
func (h *Handle) givenBack(needs []Need) func(ctx context.Context, cancel func(context.Context) error) error {
	return func(ctx context.Context, cancel func(context.Context) error) error {
		hv := h.ho
		hv.mu.Lock()
		defer hv.mu.Unlock()
		if err := cancel(ctx); err != nil {
			return err
		}
		for _, nd := range needs {
			st, err := statusOn(ctx, h.fb, nd.Key, shareLimit(nd.Limit, h.p.FallbackShare, 1))
			if err != nil {
				continue // the ledger keeps the higher tat: the store is charged the slot
			}
			if l := hv.keys[nd.Key]; l != nil {
				l.f = min(l.f, h.clock()+ns(st.FullAfter))
			}
		}
		return nil
	}
}

// flapped is the error of a call handed between the store and the
// fallback maxSwitches times.
func flapped(op string) error {
	return &UnavailableError{Op: op, Err: fmt.Errorf("the store went down and up %d times during the call", maxSwitches)}
}

// allowFallback is Allow under FailFallback.
func (h *Handle) allowFallback(ctx context.Context, op string, needs []Need, c *call) (Result, error) {
	for range maxSwitches {
		stamp, ok, err := h.beginStore(ctx, needs)
		if err != nil && !isStoreError(err) {
			return Result{}, err
		}
		if err != nil {
			h.failed(ctx, op, err)
		} else if ok {
			err := c.exec(ctx, h.store, driver.Allow, needs, 1, 0, 0, nil)
			if h.storeAnswered(ctx, op, needs, stamp, c, err) {
				if err != nil {
					return Result{}, err
				}
				return c.result(needs), nil
			}
		}
		if err := h.closedErr(); err != nil {
			return Result{}, err
		}
		var r Result
		ok, err = h.onFallback(ctx, needs, c, func() (bool, error) {
			if err := c.exec(ctx, h.fb, driver.Allow, needs, h.p.FallbackShare, 0, 0, nil); err != nil {
				return false, err
			}
			r = c.result(needs)
			return r.Allowed, nil
		})
		if ok || err != nil {
			return r, err
		}
	}
	return Result{}, flapped(op)
}

// reserveFallback is Reserve under FailFallback. The time spent before
// the deciding call (a raise, a wait for another caller's raise, a store
// that failed) is taken off maxWait.
func (h *Handle) reserveFallback(ctx context.Context, op string, maxWait time.Duration, needs []Need, c *call) (*Reservation, error) {
	start := h.clock()
	left := func() int64 { return maxWaitUS(max(0, maxWait-time.Duration(h.clock()-start))) }
	for range maxSwitches {
		stamp, ok, err := h.beginStore(ctx, needs)
		if err != nil && !isStoreError(err) {
			return nil, err
		}
		if err != nil {
			h.failed(ctx, op, err)
		} else if ok {
			err := c.exec(ctx, h.store, driver.Reserve, needs, 1, left(), 0, nil)
			if h.storeAnswered(ctx, op, needs, stamp, c, err) {
				if err != nil {
					return nil, err
				}
				return h.reservation(ctx, h.store, needs, c, nil), nil
			}
			// An answer that does not stand leaves its slot on the
			// store: the limit is kept, the slot wasted once.
		}
		if err := h.closedErr(); err != nil {
			return nil, err
		}
		var r *Reservation
		ok, err = h.onFallback(ctx, needs, c, func() (bool, error) {
			if err := c.exec(ctx, h.fb, driver.Reserve, needs, h.p.FallbackShare, left(), 0, nil); err != nil {
				return false, err
			}
			r = h.reservation(ctx, h.fb, needs, c, h.givenBack(slices.Clone(needs)))
			return r.OK, nil
		})
		if ok || err != nil {
			return r, err
		}
	}
	return nil, flapped(op)
}

// holdFallbackPolicy is Hold under FailFallback: on the store while it
// answers, else on the fallback; either way the ledger learns of it.
func (h *Handle) holdFallbackPolicy(ctx context.Context, key string, limit Limit, d time.Duration) error {
	if !h.Degraded() {
		err := holdOn(ctx, h.store, key, limit, d)
		if err == nil {
			h.heldStore(key, limit, d, h.clock())
			return nil
		}
		if !isStoreError(err) {
			return err
		}
		h.failed(ctx, "Hold", err)
	}
	if err := h.closedErr(); err != nil {
		return err
	}
	return h.holdFallback(ctx, key, limit, d)
}

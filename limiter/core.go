package limiter

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/lifecycle"
	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Handle is the Limiter every backend returns: a [driver.Store] with the
// work that is the same for every store done once, here. It checks the
// arguments, runs the failure [Policy] (wait for the store, admit without
// it, or fall back to an in-process store), reports to the Policy's
// [Observer], pins the slots of [Wait]s so that Close gives them back, and
// refuses every call after Close. Its methods are safe for concurrent use.
//
// While the store is down under FailOpen or FailFallback, decisions skip
// it and one background probe (Status on a key of its own) retries it with
// backoff; the first answer switches back. Under FailFallback each key is
// handed between the store and the fallback where the other left it (see
// FailFallback), and reservations taken from the fallback are cancelled on
// the fallback. Status and Reset always ask the store (retried under
// FailWait).
type Handle struct {
	store driver.Store
	one   driver.OneAllower   // store's, if it has the capability
	many  driver.NeedsAllower // store's, if it has the capability
	// checker is the store's, if it has the capability.
	checker driver.Checker
	stats   driver.StatsReporter // store's, if it has the capability
	fb      driver.Store         // the fallback store (FailFallback)
	p       Policy
	obs     Observer
	log     *slog.Logger
	lc      *lifecycle.Lifecycle

	released atomic.Bool  // the store was closed
	down     atomic.Bool  // the store failed and has not answered since
	unstored atomic.Int64 // admitted without the store (FailOpen)
	lastLog  atomic.Int64 // unix nanos of the last FailOpen count line
	ho       *handover    // the ledger of the keys under FailFallback
	base     time.Time    // the origin of the ledger's clock

	// closing ends when Close starts: it stops the probe and the
	// retries' pauses.
	closing     context.Context
	stopClosing context.CancelFunc
	mu          sync.Mutex
	closed      bool
	wg          sync.WaitGroup
}

var (
	_ Limiter  = (*Handle)(nil)
	_ Observed = (*Handle)(nil)
)

// NewHandle returns the Limiter on store with failure policy p. Backends
// call it; Close closes store (and p.Fallback).
func NewHandle(store driver.Store, p Policy) (*Handle, error) {
	if store == nil {
		return nil, fmt.Errorf("limiter: NewHandle: nil store: %w", ErrInvalidArgument)
	}
	if p.OnFailure < FailWait || p.OnFailure > FailFallback {
		return nil, fmt.Errorf("limiter: NewHandle: unknown failure mode %d: %w", p.OnFailure, ErrInvalidArgument)
	}
	if p.UnavailableAfter == 0 {
		p.UnavailableAfter = DefaultUnavailableAfter
	}
	if p.FallbackShare == 0 {
		p.FallbackShare = DefaultFallbackShare
	}
	if math.IsNaN(p.FallbackShare) || p.FallbackShare <= 0 || p.FallbackShare > 1 {
		return nil, fmt.Errorf("limiter: NewHandle: FallbackShare must be in (0, 1], got %v: %w", p.FallbackShare, ErrInvalidArgument)
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.MinBackoff)
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	h := &Handle{store: store, p: p, obs: p.Observer, log: p.Logger, base: p.Now(), lc: lifecycle.New(ErrClosed)}
	if p.OnFailure == FailFallback {
		if p.Fallback == nil {
			p.Fallback = memstore.New(memstore.NewState(p.Now))
			h.p.Fallback = p.Fallback
		}
		h.fb = p.Fallback
		h.ho = newHandover()
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.one, _ = store.(driver.OneAllower)
	h.many, _ = store.(driver.NeedsAllower)
	h.checker, _ = store.(driver.Checker)
	h.stats, _ = store.(driver.StatsReporter)
	h.closing, h.stopClosing = context.WithCancel(context.Background())
	return h, nil
}

// Stats reports the store's traffic: the requests the Handle gave it and
// the round trips it made for them (with coalescing, one round trip
// decides many requests). A store that counts nothing (the in-process one,
// which makes no round trips) reports zeros.
func (h *Handle) Stats() Stats {
	if h.stats == nil {
		return Stats{}
	}
	st := h.stats.Stats()
	return Stats{Requests: st.Requests, RoundTrips: st.RoundTrips}
}

// Stats counts a Limiter's store traffic (see [Handle.Stats]).
type Stats struct {
	// Requests is how many requests reached the store.
	Requests int64
	// RoundTrips is how many round trips the store made for them.
	RoundTrips int64
}

// Policy is the Handle's policy, defaults filled in.
func (h *Handle) Policy() Policy { return h.p }

// Observer implements [Observed].
func (h *Handle) Observer() Observer { return h.obs }

// Degraded reports whether the store is down and the Handle decides
// without it (FailOpen, FailFallback).
func (h *Handle) Degraded() bool { return h.p.OnFailure != FailWait && h.down.Load() }

func (h *Handle) emit(ctx context.Context, e Event) {
	if h.obs != nil {
		h.obs.Observe(ctx, e)
	}
}

// AllowN implements [Limiter].
func (h *Handle) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if h.one != nil && h.ho == nil && h.obs == nil && !h.down.Load() {
		r, err := h.allowOne(ctx, key, limit, n)
		if err == nil || !isStoreError(err) {
			return r, err
		}
		// A store error goes to the failure policy, as on the batch
		// path: FailWait retries, FailOpen admits.
		h.failed(ctx, "AllowN", err)
	}
	c := getCall()
	defer putCall(c)
	c.one[0] = Need{Key: key, Limit: limit, N: n}
	c.short = true
	return h.allow(ctx, "AllowN", c.one[:], c)
}

// allowOne is AllowN on a store that decides one need for less than a
// batch costs (see driver.OneAllower), while it answers.
func (h *Handle) allowOne(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := checkOne(key, limit, n); err != nil {
		return Result{}, err
	}
	if err := h.lc.EnterContext(ctx); err != nil {
		return Result{}, err
	}
	defer h.lc.Leave()
	ok, a, retry, err := h.one.AllowOne(ctx, driverNeed(key, limit, n))
	if err != nil {
		return Result{}, err
	}
	r := Result{Allowed: ok, Remaining: int(a.Remaining), ResetAfter: us(a.ResetAfter)}
	if !ok {
		r.RetryAfter = us(retry)
	}
	return r, nil
}

// Allow implements [Limiter].
func (h *Handle) Allow(ctx context.Context, needs ...Need) (Result, error) {
	c := getCall()
	defer putCall(c)
	if h.many != nil && len(needs) <= len(c.dn) && h.ho == nil && h.obs == nil && !h.down.Load() {
		// As AllowN's allowOne: the store decides without the batch's
		// bookkeeping; a store error goes to the failure policy on the
		// batch path.
		r, err := h.allowNeeds(ctx, needs, c)
		if err == nil || !isStoreError(err) {
			return r, err
		}
		h.failed(ctx, "Allow", err)
	}
	return h.allow(ctx, "Allow", needs, c)
}

// allowNeeds is Allow on a store that decides a request for less than a
// batch costs (see driver.NeedsAllower), while it answers.
func (h *Handle) allowNeeds(ctx context.Context, needs []Need, c *call) (Result, error) {
	if err := h.enterAllow(ctx, "Allow", needs, c); err != nil {
		return Result{}, err
	}
	defer h.lc.Leave()
	dn := c.dn[:len(needs)]
	for i, nd := range needs {
		dn[i] = driverNeed(nd.Key, nd.Limit, nd.N)
	}
	a := &c.ans[0]
	a.Needs = c.na[:0]
	if err := h.many.AllowNeeds(ctx, dn, a); err != nil {
		return Result{}, err
	}
	if err := checkAnswer(a, len(needs)); err != nil {
		return Result{}, err
	}
	return c.result(needs), nil
}

// enterAllow checks an Allow of needs (op names it in errors) and enters
// the handle's lifecycle; the caller leaves it.
func (h *Handle) enterAllow(ctx context.Context, op string, needs []Need, c *call) error {
	if err := checkNeeds(op, needs); err != nil {
		return err
	}
	if err := h.checkStore(driver.Allow, needs, c); err != nil {
		return err
	}
	return h.lc.EnterContext(ctx)
}

func (h *Handle) allow(ctx context.Context, op string, needs []Need, c *call) (Result, error) {
	if err := h.enterAllow(ctx, op, needs, c); err != nil {
		return Result{}, err
	}
	defer h.lc.Leave()
	r, err := h.allowPolicy(ctx, op, needs, c)
	if err == nil && h.obs != nil {
		h.emit(ctx, decisionEvent(op, needs, r))
	}
	return r, err
}

// decisionEvent is the Event of an Allow's result.
func decisionEvent(op string, needs []Need, r Result) Event {
	e := needEvent(op, needs, r.Binding)
	if r.Allowed {
		e.Kind = EventAdmitted
	} else {
		e.Kind, e.Duration = EventRefused, r.RetryAfter
	}
	return e
}

// needEvent is an Event of a request, naming its binding need.
func needEvent(op string, needs []Need, binding int) Event {
	b := needs[min(binding, len(needs)-1)]
	e := Event{Op: op, Key: b.Key, N: b.N, Limit: b.Limit}
	if len(needs) > 1 {
		e.Needs = needs
	}
	return e
}

func (h *Handle) allowPolicy(ctx context.Context, op string, needs []Need, c *call) (Result, error) {
	if h.ho != nil {
		return h.allowFallback(ctx, op, needs, c)
	}
	if !h.Degraded() {
		err := h.retry(ctx, op, false, func(time.Duration) error {
			return c.exec(ctx, h.store, driver.Allow, needs, 1, 0, 0, nil)
		})
		if err == nil {
			return c.result(needs), nil
		}
		if !isStoreError(err) || h.p.OnFailure == FailWait {
			return Result{}, err
		}
	}
	h.admitUnstored()
	return openResult(needs, c.short), nil
}

// openResult is what FailOpen answers without the store.
func openResult(needs []Need, short bool) Result {
	r := Result{Allowed: true, Remaining: needs[0].Limit.Burst - needs[0].N}
	if !short {
		r.Needs = make([]NeedResult, len(needs))
		for i, nd := range needs {
			r.Needs[i] = NeedResult{Key: nd.Key, Remaining: nd.Limit.Burst - nd.N}
		}
	}
	return r
}

// ReserveN implements [Limiter].
func (h *Handle) ReserveN(ctx context.Context, key string, limit Limit, n int, maxWait time.Duration) (*Reservation, error) {
	c := getCall()
	defer putCall(c)
	c.one[0] = Need{Key: key, Limit: limit, N: n}
	c.short = true
	return h.reserve(ctx, "ReserveN", maxWait, c.one[:], c)
}

// Reserve implements [Limiter]. Under FailWait, the time spent retrying is
// taken off maxWait, so that a Wait never sleeps past its deadline.
func (h *Handle) Reserve(ctx context.Context, maxWait time.Duration, needs ...Need) (*Reservation, error) {
	c := getCall()
	defer putCall(c)
	return h.reserve(ctx, "Reserve", maxWait, needs, c)
}

func (h *Handle) reserve(ctx context.Context, op string, maxWait time.Duration, needs []Need, c *call) (*Reservation, error) {
	if err := checkNeeds(op, needs); err != nil {
		return nil, err
	}
	if err := checkMaxWait(maxWait); err != nil {
		return nil, err
	}
	if err := h.checkStore(driver.Reserve, needs, c); err != nil {
		return nil, err
	}
	if err := h.lc.EnterContext(ctx); err != nil {
		return nil, err
	}
	defer h.lc.Leave()
	r, err := h.reservePolicy(ctx, op, maxWait, needs, c)
	if err == nil && h.obs != nil && !isWaiting(ctx) { // Wait reports its own
		e := needEvent(op, needs, r.Binding)
		if r.OK {
			e.Kind, e.Duration = EventAdmitted, r.Delay
		} else {
			e.Kind, e.Duration = EventRefused, r.RetryAfter
		}
		h.emit(ctx, e)
	}
	return r, err
}

func (h *Handle) reservePolicy(ctx context.Context, op string, maxWait time.Duration, needs []Need, c *call) (*Reservation, error) {
	if h.ho != nil {
		return h.reserveFallback(ctx, op, maxWait, needs, c)
	}
	if !h.Degraded() {
		err := h.retry(ctx, op, true, func(spent time.Duration) error {
			mw := maxWait
			if spent > 0 {
				mw = max(0, maxWait-spent)
			}
			return c.exec(ctx, h.store, driver.Reserve, needs, 1, maxWaitUS(mw), 0, nil)
		})
		if err == nil {
			return h.reservation(ctx, h.store, needs, c, nil), nil
		}
		if !isStoreError(err) || h.p.OnFailure == FailWait {
			return nil, err
		}
	}
	h.admitUnstored()
	o := openResult(needs, c.short)
	return &Reservation{OK: true, Remaining: o.Remaining, Needs: o.Needs}, nil
}

// reservation builds the Reservation of c's answer, taken on st: a slot of
// a Wait is pinned, so that Close gives it back. wrap, when set, runs the
// cancel (the fallback's ledger takes its lock around it).
func (h *Handle) reservation(ctx context.Context, st driver.Store, needs []Need, c *call, wrap func(context.Context, func(context.Context) error) error) *Reservation {
	a := &c.ans[0]
	res := c.result(needs)
	r := &Reservation{OK: a.OK, Remaining: res.Remaining, ResetAfter: res.ResetAfter, Binding: res.Binding, Needs: res.Needs}
	if !a.OK {
		r.RetryAfter = res.RetryAfter
		return r
	}
	r.Delay = us(a.Wait)
	r.at = time.Now().Add(r.Delay)
	undo := a.Undo
	var pin *lifecycle.Pin
	if r.Delay > 0 && isWaiting(ctx) {
		// Close gives the slots of Waits back, newest first.
		pin = h.lc.Pin(r.Delay, a.Order)
	}
	var restored atomic.Bool // the last cancel gave a key back
	// whole: a cancel gave every key back (one need: any), so that no
	// later cancel can give anything (the key no longer holds this
	// reservation's write, and never will again).
	var whole atomic.Bool
	one := len(needs) == 1
	cancel := func(ctx context.Context) error {
		ok, err := cancelOn(ctx, st, undo)
		restored.Store(ok)
		if ok && one {
			whole.Store(true)
		}
		return err
	}
	r.cancel = func(ctx context.Context) error {
		if pin != nil {
			defer pin.Release()
		}
		if h.released.Load() {
			return ErrClosed
		}
		if wrap != nil {
			return wrap(ctx, cancel)
		}
		return cancel(ctx)
	}
	if pin != nil {
		pin.GiveBack(r.Cancel)
		// Close gives the slot back again when its keys came back
		// to its own writes (see lifecycle.Pin.Again).
		pin.Again(func(ctx context.Context) bool {
			if !r.given || whole.Load() {
				return false // used, its time came, or given back: nothing to give
			}
			restored.Store(false)
			_ = r.cancel(ctx)
			return restored.Load()
		})
	}
	return r
}

// cancelOn gives the reservation of undo back on st, and reports whether
// any key was given back.
func cancelOn(ctx context.Context, st driver.Store, undo any) (bool, error) {
	c := getCall()
	defer putCall(c)
	err := c.exec(ctx, st, driver.Cancel, nil, 1, 0, 0, undo)
	return err == nil && c.ans[0].OK, err
}

// Hold implements [Limiter]. While the store is down, FailOpen drops the
// hold and FailFallback holds the fallback.
func (h *Handle) Hold(ctx context.Context, key string, limit Limit, d time.Duration) error {
	if err := checkHold(key, limit, d); err != nil {
		return err
	}
	if err := h.lc.EnterContext(ctx); err != nil {
		return err
	}
	defer h.lc.Leave()
	err := h.hold(ctx, key, limit, d)
	if err == nil {
		h.emit(ctx, Event{Kind: EventHeld, Op: "Hold", Key: key, N: 1, Limit: limit, Duration: d})
	}
	return err
}

func (h *Handle) hold(ctx context.Context, key string, limit Limit, d time.Duration) error {
	if h.ho != nil {
		return h.holdFallbackPolicy(ctx, key, limit, d)
	}
	if !h.Degraded() {
		err := h.retry(ctx, "Hold", false, func(time.Duration) error { return holdOn(ctx, h.store, key, limit, d) })
		if err == nil || !isStoreError(err) || h.p.OnFailure == FailWait {
			return err
		}
	}
	return nil
}

// holdOn holds key on st for d.
func holdOn(ctx context.Context, st driver.Store, key string, limit Limit, d time.Duration) error {
	c := getCall()
	defer putCall(c)
	c.one[0] = Need{Key: key, Limit: limit, N: 1}
	return c.exec(ctx, st, driver.Hold, c.one[:], 1, 0, d.Microseconds(), nil)
}

// Reset implements [Limiter]. It always asks the store; under
// FailFallback, once the store has forgotten the key, the fallback forgets
// it too. A Reset the store did not take changes nothing.
func (h *Handle) Reset(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := h.lc.EnterContext(ctx); err != nil {
		return err
	}
	defer h.lc.Leave()
	err := h.retry(ctx, "Reset", false, func(time.Duration) error { return resetOn(ctx, h.store, key) })
	if err == nil && h.ho != nil {
		h.resetLedger(ctx, key)
	}
	return err
}

// resetOn forgets key on st.
func resetOn(ctx context.Context, st driver.Store, key string) error {
	c := getCall()
	defer putCall(c)
	c.one[0] = Need{Key: key}
	return c.exec(ctx, st, driver.Reset, c.one[:], 0, 0, 0, nil)
}

// Status implements [Limiter]. It always asks the store.
func (h *Handle) Status(ctx context.Context, key string, limit Limit) (Status, error) {
	if err := checkNeeds("Status", []Need{{Key: key, Limit: limit, N: 1}}); err != nil {
		return Status{}, err
	}
	if err := h.lc.EnterContext(ctx); err != nil {
		return Status{}, err
	}
	defer h.lc.Leave()
	var s Status
	err := h.retry(ctx, "Status", false, func(time.Duration) (err error) {
		s, err = statusOn(ctx, h.store, key, limit)
		return err
	})
	return s, err
}

// statusOn asks st about key.
func statusOn(ctx context.Context, st driver.Store, key string, limit Limit) (Status, error) {
	c := getCall()
	defer putCall(c)
	c.one[0] = Need{Key: key, Limit: limit, N: 1}
	if err := c.exec(ctx, st, driver.Status, c.one[:], 1, 0, 0, nil); err != nil {
		return Status{}, err
	}
	a := c.ans[0].Needs[0]
	return Status{Remaining: int(a.Remaining), NextAfter: us(a.NextAfter), FullAfter: us(a.ResetAfter)}, nil
}

// Done implements [Limiter].
func (h *Handle) Done() <-chan struct{} { return h.lc.Done() }

// Close implements [Limiter]: it stops the probe and the retries, gives
// the slots of Waits in flight back newest first (so that their cancels
// chain), wakes those Waits with [ErrClosed], then closes the store and
// the fallback.
func (h *Handle) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.stopClosing()
	h.wg.Wait()
	return h.lc.Close(func() error {
		h.released.Store(true)
		err := h.store.Close()
		if h.fb != nil {
			_ = h.fb.Close()
		}
		return err
	})
}

// call is the scratch of one request: it keeps a decision of one or a few
// needs free of allocations but for its result.
type call struct {
	short bool // AllowN or ReserveN: results carry no Needs
	one   [1]Need
	req   [1]driver.Request
	ans   [1]driver.Answer
	dn    [4]driver.Need
	na    [4]driver.NeedAnswer
}

var calls = sync.Pool{New: func() any { return new(call) }}

func getCall() *call { return calls.Get().(*call) }

func putCall(c *call) {
	c.short = false
	c.one[0] = Need{}
	c.req[0] = driver.Request{}
	c.ans[0] = driver.Answer{}
	calls.Put(c)
}

// exec sends one request to st: op on needs, each limit scaled by share
// (1 but for the fallback), and checks the answer's shape.
func (c *call) exec(ctx context.Context, st driver.Store, op driver.Op, needs []Need, share float64, maxWait, hold int64, undo any) error {
	c.prepare(op, needs, share, maxWait, hold, undo)
	if err := st.Do(ctx, c.req[:], c.ans[:]); err != nil {
		return err
	}
	a := &c.ans[0]
	if a.Err != nil {
		return a.Err
	}
	switch op {
	case driver.Allow, driver.Reserve, driver.Status:
		return checkAnswer(a, len(needs))
	}
	return nil
}

// prepare builds c's request (and zeroes its answer): op on needs, each
// limit scaled by share (1 but for the fallback).
func (c *call) prepare(op driver.Op, needs []Need, share float64, maxWait, hold int64, undo any) {
	dn := c.dn[:0]
	if len(needs) > len(c.dn) {
		dn = make([]driver.Need, 0, len(needs))
	}
	for _, nd := range needs {
		limit, n := nd.Limit, nd.N
		if share != 1 && op != driver.Reset {
			limit = shareLimit(limit, share, max(n, 1))
		}
		if op == driver.Reset {
			dn = append(dn, driver.Need{Key: nd.Key})
			continue
		}
		dn = append(dn, driverNeed(nd.Key, limit, n))
	}
	c.req[0] = driver.Request{Op: op, Needs: dn, MaxWait: maxWait, Hold: hold, Undo: undo}
	c.ans[0] = driver.Answer{Needs: c.na[:0]}
}

// checkStore asks a store with the driver.Checker capability whether it
// could decide a request of several needs at all.
func (h *Handle) checkStore(op driver.Op, needs []Need, c *call) error {
	if h.checker == nil || len(needs) < 2 {
		return nil
	}
	c.prepare(op, needs, 1, 0, 0, nil)
	return h.checker.Check(&c.req[0])
}

// checkAnswer checks the shape of a store's answer to a request of n needs.
func checkAnswer(a *driver.Answer, n int) error {
	if len(a.Needs) != n || a.Binding < 0 || a.Binding >= n {
		return fmt.Errorf("limiter: the store answered %d needs (binding %d) to a request of %d: %w",
			len(a.Needs), a.Binding, n, ErrUnavailable)
	}
	return nil
}

// driverNeed is n tokens of key under limit in the store's terms: T the
// emission interval and Tau = Burst*T, in microseconds.
func driverNeed(key string, limit Limit, n int) driver.Need {
	t := limit.intervalUS()
	return driver.Need{Key: key, N: int64(n), T: t, Tau: t * int64(limit.Burst)}
}

// result converts the answer of an Allow or Reserve. The shorthands of
// one need (AllowN, ReserveN, whose c.short is set) leave Needs nil.
func (c *call) result(needs []Need) Result {
	a := &c.ans[0]
	b := a.Needs[a.Binding]
	r := Result{Allowed: a.OK, Binding: a.Binding, Remaining: int(b.Remaining), ResetAfter: us(b.ResetAfter)}
	if !c.short {
		r.Needs = make([]NeedResult, len(needs))
		for i, nd := range needs {
			r.Needs[i] = NeedResult{Key: nd.Key, Remaining: int(a.Needs[i].Remaining), ResetAfter: us(a.Needs[i].ResetAfter)}
		}
	}
	if !a.OK {
		r.RetryAfter = us(a.RetryAfter)
	}
	return r
}

// us converts microseconds to a Duration.
func us(x int64) time.Duration { return time.Duration(x) * time.Microsecond }

// maxWaitUS converts a maxWait to microseconds, rounding down; beyond 2^53
// µs (285 years, where a Lua double loses integers) any wait means "no
// limit" anyway.
func maxWaitUS(d time.Duration) int64 { return min(int64(d/time.Microsecond), 1<<53) }

package limiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FailureMode is what a [Guard] does when its store cannot answer (an error
// matching [ErrUnavailable]).
type FailureMode int

const (
	// FailWait, the default, retries the store with backoff until the
	// caller's context ends or Policy.UnavailableAfter has passed, then
	// returns an error matching ErrUnavailable. Nothing is admitted
	// without the store's word.
	FailWait FailureMode = iota
	// FailOpen admits every request while the store is down, and logs
	// each switch (not each request) at Warn.
	FailOpen
	// FailFallback decides with Policy.Fallback, an in-process limiter,
	// at Policy.FallbackShare of each limit while the store is down. Each
	// side starts a key where the other left it: the fallback from the
	// store's last answer, the store charged with what the fallback
	// admitted. One process then stays within the limit's bound plus one
	// Burst in any window, however often the store flaps (the limit's own
	// bound with Burst 1).
	FailFallback
)

var modeNames = [...]string{"wait", "open", "fallback"}

// String is "wait", "open" or "fallback".
func (m FailureMode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("FailureMode(%d)", int(m))
}

// ParseFailureMode reads "wait", "open" or "fallback".
func ParseFailureMode(s string) (FailureMode, error) {
	for i, n := range modeNames {
		if s == n {
			return FailureMode(i), nil
		}
	}
	return 0, fmt.Errorf("limiter: unknown failure policy %q (accepted: %s): %w",
		s, strings.Join(modeNames[:], ", "), ErrInvalidArgument)
}

// Defaults of a Policy.
const (
	DefaultUnavailableAfter = 30 * time.Second
	DefaultFallbackShare    = 0.5
	DefaultMinBackoff       = 20 * time.Millisecond
	DefaultMaxBackoff       = time.Second
	// DefaultOpenLogEvery spaces the Warn lines that count requests
	// admitted without the store under FailOpen.
	DefaultOpenLogEvery = 10 * time.Second
)

// probeKey and probeLimit are what the probe of a Guard asks the store
// about: Status changes nothing.
const probeKey = "sharedlimit:probe"

var probeLimit = Limit{Rate: 1, Period: time.Second, Burst: 1}

// Policy is what a [Guard] does when its store fails. The zero value is
// FailWait with the defaults.
type Policy struct {
	// OnFailure picks the behaviour. The default value is FailWait.
	OnFailure FailureMode
	// UnavailableAfter bounds how long FailWait retries one call (the
	// caller's deadline applies when sooner). A negative value gives up
	// at the first failure. The default value is
	// DefaultUnavailableAfter (30 s).
	UnavailableAfter time.Duration
	// Fallback decides while the store is down under FailFallback; it is
	// required then, and the Guard closes it. An in-process limiter
	// (limiter/memory) is meant.
	Fallback Limiter
	// FallbackShare scales each limit's Rate and Burst for the fallback
	// (rounded down, at least 1), because every process falls back on its
	// own: with P processes, a share of 1/P keeps the total near the
	// limit. The default value is DefaultFallbackShare (0.5).
	FallbackShare float64
	// Observer receives the events of the Guard. The default value is
	// none.
	Observer Observer
	// Logger receives the policy switches. The default value is
	// slog.Default().
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the pause between retries and
	// between probes of a store that is down: it doubles from MinBackoff
	// up to MaxBackoff, with jitter. The default values are
	// DefaultMinBackoff (20 ms) and DefaultMaxBackoff (1 s).
	MinBackoff, MaxBackoff time.Duration
	// Now and Sleep are the clock and the pause of the retries and
	// probes, for tests. Sleep returns early with ctx's error. The
	// default values are time.Now and a timer.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// states of a Guard, for logs and EventPolicySwitch.
const (
	stateStore   = "store"
	stateWaiting = "waiting"
	stateOpen    = "open"
	stateFall    = "fallback"
)

// Guard applies a failure [Policy] and an [Observer] to a store; any
// backend can be guarded. It implements [Limiter] and [Observed]. Backends
// may guard themselves (the Redis backend does, with FailWait by default).
//
// While the store is down under FailOpen or FailFallback, decisions skip
// it and one background probe (Status on a key of its own) retries it with
// backoff; the first answer switches back. Under FailFallback each key is
// handed between the store and the fallback where the other left it (see
// FailFallback), and reservations taken from the fallback are cancelled on
// the fallback. Status and Reset always ask the store (retried under
// FailWait).
type Guard struct {
	store Limiter
	p     Policy
	obs   Observer
	log   *slog.Logger

	down      atomic.Bool  // the store failed and has not answered since
	unstored  atomic.Int64 // admitted without the store (FailOpen)
	lastLog   atomic.Int64 // unix nanos of the last FailOpen count line
	ho        *handover    // the ledger of the keys under FailFallback
	base      time.Time    // the origin of the ledger's clock
	probeCtx  context.Context
	stopProbe context.CancelFunc
	mu        sync.Mutex
	closed    bool
	wg        sync.WaitGroup
}

var (
	_ Limiter  = (*Guard)(nil)
	_ Observed = (*Guard)(nil)
)

// NewGuard guards store with p. Close closes store and p.Fallback.
func NewGuard(store Limiter, p Policy) (*Guard, error) {
	if store == nil {
		return nil, fmt.Errorf("limiter: NewGuard: nil store: %w", ErrInvalidArgument)
	}
	if p.OnFailure < FailWait || p.OnFailure > FailFallback {
		return nil, fmt.Errorf("limiter: NewGuard: unknown failure mode %d: %w", p.OnFailure, ErrInvalidArgument)
	}
	if p.UnavailableAfter == 0 {
		p.UnavailableAfter = DefaultUnavailableAfter
	}
	if p.FallbackShare == 0 {
		p.FallbackShare = DefaultFallbackShare
	}
	if math.IsNaN(p.FallbackShare) || p.FallbackShare <= 0 || p.FallbackShare > 1 {
		return nil, fmt.Errorf("limiter: NewGuard: FallbackShare must be in (0, 1], got %v: %w", p.FallbackShare, ErrInvalidArgument)
	}
	if p.OnFailure == FailFallback && p.Fallback == nil {
		return nil, fmt.Errorf("limiter: NewGuard: the fallback policy needs a Fallback limiter: %w", ErrInvalidArgument)
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
	g := &Guard{store: store, p: p, obs: p.Observer, log: p.Logger, base: p.Now()}
	if p.OnFailure == FailFallback {
		g.ho = newHandover()
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.probeCtx, g.stopProbe = context.WithCancel(context.Background())
	return g, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Store is the guarded store.
func (g *Guard) Store() Limiter { return g.store }

// Policy is the Guard's policy, defaults filled in.
func (g *Guard) Policy() Policy { return g.p }

// Observer implements [Observed].
func (g *Guard) Observer() Observer { return g.obs }

// Degraded reports whether the store is down and the Guard decides without
// it (FailOpen, FailFallback).
func (g *Guard) Degraded() bool { return g.p.OnFailure != FailWait && g.down.Load() }

func (g *Guard) emit(ctx context.Context, e Event) {
	if g.obs != nil {
		g.obs.Observe(ctx, e)
	}
}

func isStoreError(err error) bool { return errors.Is(err, ErrUnavailable) }

// backoff is the pause before retry attempt+1: MinBackoff doubled per
// attempt up to MaxBackoff, jittered to between half and all of it.
func (g *Guard) backoff(attempt int) time.Duration {
	d := g.p.MaxBackoff
	if attempt < 30 {
		d = min(g.p.MinBackoff<<attempt, g.p.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// failed records a store error of a call and switches to the degraded
// state on the first one.
func (g *Guard) failed(ctx context.Context, op string, err error) {
	g.emit(ctx, Event{Kind: EventStoreError, Op: op, Err: err})
	if g.down.Load() || !g.down.CompareAndSwap(false, true) {
		return
	}
	to := map[FailureMode]string{FailWait: stateWaiting, FailOpen: stateOpen, FailFallback: stateFall}[g.p.OnFailure]
	switch g.p.OnFailure {
	case FailWait:
		g.log.Warn("limiter: store unavailable: callers wait for it (policy wait)",
			"error", err.Error(), "unavailable_after", max(0, g.p.UnavailableAfter))
	case FailOpen:
		g.unstored.Store(0)
		g.lastLog.Store(g.p.Now().UnixNano())
		g.log.Warn("limiter: store unavailable: ADMITTING WITHOUT A LIMIT until it answers (policy open)", "error", err.Error())
	case FailFallback:
		g.log.Warn("limiter: store unavailable: an in-process limiter decides until it answers (policy fallback)",
			"error", err.Error(), "share", g.p.FallbackShare)
	}
	g.emit(ctx, Event{Kind: EventPolicySwitch, Op: op, Err: err, From: stateStore, To: to})
	if g.p.OnFailure != FailWait {
		g.startProbe()
	}
}

// recovered switches back to the store after it answered.
func (g *Guard) recovered(ctx context.Context) {
	if !g.down.CompareAndSwap(true, false) {
		return
	}
	switch g.p.OnFailure {
	case FailWait:
		g.log.Warn("limiter: store answers again (policy wait)")
		g.emit(ctx, Event{Kind: EventPolicySwitch, From: stateWaiting, To: stateStore})
	case FailOpen:
		g.log.Warn("limiter: store answers again: limiting resumes (policy open)",
			"admitted_without_store", g.unstored.Load())
		g.emit(ctx, Event{Kind: EventPolicySwitch, From: stateOpen, To: stateStore})
	case FailFallback:
		g.log.Warn("limiter: store answers again: it decides again, charged with what the fallback admitted (policy fallback)")
		g.emit(ctx, Event{Kind: EventPolicySwitch, From: stateFall, To: stateStore})
	}
}

// ok notes an answer of the store: under FailWait it ends an outage. Under
// the other modes only the probe ends one, so that a call that was in
// flight when the store went down cannot switch back early.
func (g *Guard) ok(ctx context.Context) {
	if g.p.OnFailure == FailWait && g.down.Load() {
		g.recovered(ctx)
	}
}

func (g *Guard) startProbe() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.wg.Add(1)
	go g.probe()
}

// probe asks the store until it answers, with backoff, or the Guard is
// closed.
func (g *Guard) probe() {
	defer g.wg.Done()
	ctx := g.probeCtx
	for attempt := 0; ; attempt++ {
		if g.p.Sleep(ctx, g.backoff(attempt)) != nil {
			return
		}
		_, err := g.store.Status(ctx, probeKey, probeLimit)
		switch {
		case err == nil:
			g.recovered(ctx)
			return
		case !isStoreError(err) || ctx.Err() != nil:
			return // closed
		}
		g.emit(ctx, Event{Kind: EventStoreError, Op: "probe", Err: err})
	}
}

// retry runs call under FailWait: store errors are retried with backoff
// until ctx ends or UnavailableAfter has passed since the first one. call
// gets the time spent so far. Other errors return at once.
func retry[T any](g *Guard, ctx context.Context, op string, call func(spent time.Duration) (T, error)) (T, error) {
	var start time.Time
	t0 := g.p.Now() // the first attempt's own time counts as spent too
	for attempt := 0; ; attempt++ {
		var spent time.Duration
		if attempt > 0 {
			spent = g.p.Now().Sub(t0)
		}
		v, err := call(spent)
		if err == nil {
			g.ok(ctx)
			return v, nil
		}
		if !isStoreError(err) {
			return v, err
		}
		g.failed(ctx, op, err)
		if attempt == 0 {
			start = g.p.Now()
		}
		if g.p.OnFailure != FailWait {
			return v, err
		}
		elapsed := g.p.Now().Sub(start)
		if g.p.UnavailableAfter < 0 || elapsed >= g.p.UnavailableAfter {
			return v, fmt.Errorf("limiter: %s: gave up on the store after %d attempt(s) in %s: %w",
				op, attempt+1, elapsed.Round(time.Millisecond), err)
		}
		if serr := g.p.Sleep(ctx, min(g.backoff(attempt), g.p.UnavailableAfter-elapsed)); serr != nil {
			return v, fmt.Errorf("limiter: %s: gave up on the store after %d attempt(s) when the context ended: %w (%w)",
				op, attempt+1, err, serr)
		}
	}
}

// closed reports whether Close started, for the degraded paths, which do
// not pass through the store.
func (g *Guard) closedErr() error {
	select {
	case <-g.store.Done():
		return ErrClosed
	default:
		return nil
	}
}

// share is limit scaled for the fallback, with a Burst of at least n.
func (g *Guard) share(limit Limit, n int) Limit {
	s := g.p.FallbackShare
	limit.Rate = max(1, scaleInt(limit.Rate, s))
	limit.Burst = max(1, scaleInt(limit.Burst, s), n)
	return limit
}

// scaleInt is x*s rounded down, for s in (0, 1]: never above x, and never
// an overflow (float64(x) of an x near the largest int rounds up past it,
// and converting that back is undefined).
func scaleInt(x int, s float64) int {
	f := float64(x) * s
	if f >= float64(math.MaxInt) {
		return x
	}
	return min(x, int(f))
}

// AllowN implements Limiter.
func (g *Guard) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	r, err := g.allowN(ctx, key, limit, n)
	if err == nil && g.obs != nil {
		if r.Allowed {
			g.emit(ctx, Event{Kind: EventAdmitted, Op: "AllowN", Key: key, N: n, Limit: limit})
		} else {
			g.emit(ctx, Event{Kind: EventRefused, Op: "AllowN", Key: key, N: n, Limit: limit, Duration: r.RetryAfter})
		}
	}
	return r, err
}

func (g *Guard) allowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if g.ho != nil {
		return g.allowFallback(ctx, key, limit, n)
	}
	if !g.Degraded() {
		r, err := retry(g, ctx, "AllowN", func(time.Duration) (Result, error) { return g.store.AllowN(ctx, key, limit, n) })
		if err == nil || !isStoreError(err) || g.p.OnFailure == FailWait {
			return r, err
		}
	}
	if err := g.degradedArgs(key, limit, n); err != nil {
		return Result{}, err
	}
	g.admitUnstored()
	return Result{Allowed: true, Remaining: limit.Burst - n}, nil
}

func (g *Guard) degradedArgs(key string, limit Limit, n int) error {
	if err := CheckArgs(key, limit, n); err != nil {
		return err
	}
	return g.closedErr()
}

// admitUnstored counts an admission without the store and logs the count
// now and then.
func (g *Guard) admitUnstored() {
	g.unstored.Add(1)
	now := g.p.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last >= int64(DefaultOpenLogEvery) && g.lastLog.CompareAndSwap(last, now) {
		g.log.Warn("limiter: store still unavailable: admitting without a limit (policy open)",
			"admitted_without_store", g.unstored.Load())
	}
}

// ReserveN implements Limiter. Under FailWait, the time spent retrying is
// taken off maxWait, so that a Wait never sleeps past its deadline.
func (g *Guard) ReserveN(ctx context.Context, key string, limit Limit, n int, maxWait time.Duration) (*Reservation, error) {
	r, err := g.reserveN(ctx, key, limit, n, maxWait)
	if err == nil && g.obs != nil && !IsWaiting(ctx) { // Wait reports its own
		if r.OK {
			g.emit(ctx, Event{Kind: EventAdmitted, Op: "ReserveN", Key: key, N: n, Limit: limit, Duration: r.Delay})
		} else {
			g.emit(ctx, Event{Kind: EventRefused, Op: "ReserveN", Key: key, N: n, Limit: limit, Duration: r.RetryAfter})
		}
	}
	return r, err
}

func (g *Guard) reserveN(ctx context.Context, key string, limit Limit, n int, maxWait time.Duration) (*Reservation, error) {
	if g.ho != nil {
		return g.reserveFallback(ctx, key, limit, n, maxWait)
	}
	if !g.Degraded() {
		r, err := retry(g, ctx, "ReserveN", func(spent time.Duration) (*Reservation, error) {
			mw := maxWait
			if spent > 0 {
				mw = max(0, maxWait-spent)
			}
			return g.store.ReserveN(ctx, key, limit, n, mw)
		})
		if err == nil || !isStoreError(err) || g.p.OnFailure == FailWait {
			return r, err
		}
	}
	if err := g.degradedArgs(key, limit, n); err != nil {
		return nil, err
	}
	if err := CheckMaxWait(maxWait); err != nil {
		return nil, err
	}
	g.admitUnstored()
	return NewReservation(0, limit.Burst-n, 0, nil), nil
}

// Hold implements Limiter. While the store is down, FailOpen drops the
// hold and FailFallback holds the fallback.
func (g *Guard) Hold(ctx context.Context, key string, limit Limit, d time.Duration) error {
	err := g.hold(ctx, key, limit, d)
	if err == nil {
		g.emit(ctx, Event{Kind: EventHeld, Op: "Hold", Key: key, N: 1, Limit: limit, Duration: d})
	}
	return err
}

func (g *Guard) hold(ctx context.Context, key string, limit Limit, d time.Duration) error {
	if g.ho != nil {
		return g.holdFallbackPolicy(ctx, key, limit, d)
	}
	if !g.Degraded() {
		_, err := retry(g, ctx, "Hold", func(time.Duration) (struct{}, error) {
			return struct{}{}, g.store.Hold(ctx, key, limit, d)
		})
		if err == nil || !isStoreError(err) || g.p.OnFailure == FailWait {
			return err
		}
	}
	if err := CheckHold(key, limit, d); err != nil {
		return err
	}
	return g.closedErr()
}

// Reset implements Limiter. It always asks the store; under FailFallback,
// once the store has forgotten the key, the fallback forgets it too. A
// Reset the store did not take changes nothing.
func (g *Guard) Reset(ctx context.Context, key string) error {
	_, err := retry(g, ctx, "Reset", func(time.Duration) (struct{}, error) { return struct{}{}, g.store.Reset(ctx, key) })
	if err == nil && g.ho != nil {
		g.resetLedger(ctx, key)
	}
	return err
}

// Status implements Limiter. It always asks the store.
func (g *Guard) Status(ctx context.Context, key string, limit Limit) (Status, error) {
	return retry(g, ctx, "Status", func(time.Duration) (Status, error) { return g.store.Status(ctx, key, limit) })
}

// Done implements Limiter: it is the store's.
func (g *Guard) Done() <-chan struct{} { return g.store.Done() }

// Close implements Limiter: it stops the probe, then closes the store and
// the fallback.
func (g *Guard) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.stopProbe()
	g.wg.Wait()
	err := g.store.Close()
	if g.p.Fallback != nil {
		_ = g.p.Fallback.Close()
	}
	return err
}

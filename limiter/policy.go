package limiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/backoff"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// FailureMode is what a [Handle] does when its store cannot answer (an error
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

// probeKey and probeLimit are what the probe of a Handle asks the store
// about: Status changes nothing.
const probeKey = "sharedlimit:probe"

var probeLimit = Limit{Rate: 1, Period: time.Second, Burst: 1}

// Policy is what a [Handle] does when its store fails. The zero value is
// FailWait with the defaults.
type Policy struct {
	// OnFailure picks the behaviour. The default value is FailWait.
	OnFailure FailureMode
	// UnavailableAfter bounds how long FailWait retries one call (the
	// caller's deadline applies when sooner). A negative value gives up
	// at the first failure. The default value is
	// DefaultUnavailableAfter (30 s).
	UnavailableAfter time.Duration
	// Fallback decides while the store is down under FailFallback, and
	// the Handle closes it. The default value is an in-process store of
	// the Handle's own on the clock Now.
	Fallback driver.Store
	// FallbackShare scales each limit's Rate and Burst for the fallback
	// (rounded down, at least 1), because every process falls back on its
	// own: with P processes, a share of 1/P keeps the total near the
	// limit. The default value is DefaultFallbackShare (0.5).
	FallbackShare float64
	// Observer receives the events of the Handle. The default value is
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

// states of a Handle, for logs and EventPolicySwitch.
const (
	stateStore   = "store"
	stateWaiting = "waiting"
	stateOpen    = "open"
	stateFall    = "fallback"
)

func sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }

func isStoreError(err error) bool { return errors.Is(err, ErrUnavailable) }

// backoff is the pause before retry attempt+1.
func (h *Handle) backoff(attempt int) time.Duration {
	return backoff.Exp(attempt, h.p.MinBackoff, h.p.MaxBackoff)
}

// failed records a store error of a call and switches to the degraded
// state on the first one.
func (h *Handle) failed(ctx context.Context, op string, err error) {
	h.emit(ctx, Event{Kind: EventStoreError, Op: op, Err: err})
	if h.down.Load() || !h.down.CompareAndSwap(false, true) {
		return
	}
	to := map[FailureMode]string{FailWait: stateWaiting, FailOpen: stateOpen, FailFallback: stateFall}[h.p.OnFailure]
	switch h.p.OnFailure {
	case FailWait:
		h.log.Warn("limiter: store unavailable: callers wait for it (policy wait)",
			"error", err.Error(), "unavailable_after", max(0, h.p.UnavailableAfter))
	case FailOpen:
		h.unstored.Store(0)
		h.lastLog.Store(h.p.Now().UnixNano())
		h.log.Warn("limiter: store unavailable: ADMITTING WITHOUT A LIMIT until it answers (policy open)", "error", err.Error())
	case FailFallback:
		h.log.Warn("limiter: store unavailable: an in-process limiter decides until it answers (policy fallback)",
			"error", err.Error(), "share", h.p.FallbackShare)
	}
	h.emit(ctx, Event{Kind: EventPolicySwitch, Op: op, Err: err, From: stateStore, To: to})
	if h.p.OnFailure != FailWait {
		h.startProbe()
	}
}

// recovered switches back to the store after it answered.
func (h *Handle) recovered(ctx context.Context) {
	if !h.down.CompareAndSwap(true, false) {
		return
	}
	switch h.p.OnFailure {
	case FailWait:
		h.log.Warn("limiter: store answers again (policy wait)")
		h.emit(ctx, Event{Kind: EventPolicySwitch, From: stateWaiting, To: stateStore})
	case FailOpen:
		h.log.Warn("limiter: store answers again: limiting resumes (policy open)",
			"admitted_without_store", h.unstored.Load())
		h.emit(ctx, Event{Kind: EventPolicySwitch, From: stateOpen, To: stateStore})
	case FailFallback:
		h.log.Warn("limiter: store answers again: it decides again, charged with what the fallback admitted (policy fallback)")
		h.emit(ctx, Event{Kind: EventPolicySwitch, From: stateFall, To: stateStore})
	}
}

// ok notes an answer of the store: under FailWait it ends an outage. Under
// the other modes only the probe ends one, so that a call that was in
// flight when the store went down cannot switch back early.
func (h *Handle) ok(ctx context.Context) {
	if h.p.OnFailure == FailWait && h.down.Load() {
		h.recovered(ctx)
	}
}

func (h *Handle) startProbe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.wg.Add(1)
	go h.probe()
}

// probe asks the store until it answers, with backoff, or the Handle is
// closed.
func (h *Handle) probe() {
	defer h.wg.Done()
	ctx := h.closing
	for attempt := 0; ; attempt++ {
		if h.p.Sleep(ctx, h.backoff(attempt)) != nil {
			return
		}
		_, err := statusOn(ctx, h.store, probeKey, probeLimit)
		switch {
		case err == nil:
			h.recovered(ctx)
			return
		case !isStoreError(err) || ctx.Err() != nil:
			return // closed
		}
		h.emit(ctx, Event{Kind: EventStoreError, Op: "probe", Err: err})
	}
}

// retry runs call under FailWait: store errors are retried with backoff
// until ctx ends, the Handle closes, or UnavailableAfter has passed since
// the first one. Other errors return at once; under the other modes, store
// errors too. When timed, call gets the time spent so far, the first
// attempt's own included (it costs a clock reading per call, so only
// reservations, whose maxWait it shortens, ask for it).
func (h *Handle) retry(ctx context.Context, op string, timed bool, call func(spent time.Duration) error) error {
	var start, t0 time.Time
	if timed {
		t0 = h.p.Now()
	}
	for attempt := 0; ; attempt++ {
		var spent time.Duration
		if attempt > 0 && timed {
			spent = h.p.Now().Sub(t0)
		}
		err := call(spent)
		if err == nil {
			h.ok(ctx)
			return nil
		}
		if !isStoreError(err) {
			return err
		}
		h.failed(ctx, op, err)
		if attempt == 0 {
			start = h.p.Now()
		}
		if h.p.OnFailure != FailWait {
			return err
		}
		elapsed := h.p.Now().Sub(start)
		if h.p.UnavailableAfter < 0 || elapsed >= h.p.UnavailableAfter {
			return fmt.Errorf("limiter: %s: gave up on the store after %d attempt(s) in %s: %w",
				op, attempt+1, elapsed.Round(time.Millisecond), err)
		}
		if serr := h.pause(ctx, min(h.backoff(attempt), h.p.UnavailableAfter-elapsed)); serr != nil {
			return fmt.Errorf("limiter: %s: gave up on the store after %d attempt(s) when the context ended: %w (%w)",
				op, attempt+1, err, serr)
		}
	}
}

// pause sleeps d with Policy.Sleep, ending early when ctx ends or Close
// starts (then with ErrClosed).
func (h *Handle) pause(ctx context.Context, d time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.closing, cancel)
	defer stop()
	err := h.p.Sleep(sctx, d)
	if err != nil && h.closing.Err() != nil && ctx.Err() == nil {
		return ErrClosed
	}
	return err
}

// closedErr reports whether Close started, for the degraded paths, which
// do not pass through the store.
func (h *Handle) closedErr() error {
	if h.lc.Closed() {
		return ErrClosed
	}
	return nil
}

// shareLimit is limit scaled by s for the fallback, with a Burst of at
// least n.
func shareLimit(limit Limit, s float64, n int) Limit {
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

// admitUnstored counts an admission without the store and logs the count
// now and then.
func (h *Handle) admitUnstored() {
	h.unstored.Add(1)
	now := h.p.Now().UnixNano()
	last := h.lastLog.Load()
	if now-last >= int64(DefaultOpenLogEvery) && h.lastLog.CompareAndSwap(last, now) {
		h.log.Warn("limiter: store still unavailable: admitting without a limit (policy open)",
			"admitted_without_store", h.unstored.Load())
	}
}

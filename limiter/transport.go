package limiter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxHold caps how long a 429's Retry-After holds a key.
const DefaultMaxHold = 60 * time.Second

// DefaultHoldTimeout bounds the store call that holds a key after a 429.
const DefaultHoldTimeout = 5 * time.Second

// Transport is an http.RoundTripper that takes tokens from a Limiter before
// every request it sends, so that each attempt, first or retry, pays for
// itself.
//
// By default a request takes Cost's tokens (1) of one key per host (see
// [HostKey]) under Limit. A Needs function says instead what each request
// takes: several limits at once (so many requests per minute per account
// and so much weight per minute, say), taken at one slot or not at all (see
// [WaitAll]), and which of their keys a 429 holds.
//
// A 429 answer holds the request's keys (see [Limiter.Hold]) for its
// Retry-After, so that every process sharing the store pauses. The hold
// runs after RoundTrip has returned the 429, so that a store slow to
// answer never keeps a caller past its deadline; [Transport.Close] waits
// for the holds in flight. A request on a key whose hold is in flight
// waits for it first. A storm of 429s on one key costs one store call at a
// time: the holds that arrive meanwhile are merged into the next one.
//
// Put a retry policy outside it, never inside: retries must pass through
// the limiter.
type Transport struct {
	// Base sends the requests. The default value is http.DefaultTransport.
	Base http.RoundTripper
	// Limiter is the store. It is required.
	Limiter Limiter
	// Limit applies to every request. It is required, unless Needs is
	// set (then it must be left zero).
	Limit Limit
	// Key picks the limit key of a request. The default value is
	// [HostKey]: one key per host, whatever its spelling ("host:" and the
	// host in lower case, its port unless the scheme's default). It
	// must be nil when Needs is set.
	Key func(*http.Request) string
	// Cost is how many tokens a request takes. The default value is 1 for
	// every request. An error stops the request. It must be nil when
	// Needs is set.
	Cost func(*http.Request) (int, error)
	// Needs, when set, says what a request takes: every limit it must
	// pass, and the keys a 429 holds (see [Charge]). It is called once
	// per attempt, from the goroutines calling RoundTrip. It replaces
	// Key, Cost and Limit: with any of them also set, every request
	// fails with an error matching [ErrInvalidArgument]. An error from
	// it, or a Charge the Limiter would refuse (no need, a key twice, an
	// invalid Limit, N above the Burst), stops the request before any
	// store call, with an error naming the request. The default value
	// is nil: one need, of Key's key, Limit, and Cost's tokens, which a
	// 429 holds.
	Needs func(*http.Request) (Charge, error)
	// MaxHold caps the Retry-After of a 429. The default value is
	// DefaultMaxHold (60 s). A 429 without a valid Retry-After holds each
	// key for one Period of its Limit. Above the longest hold a Limiter
	// takes (about 35 years), the cap is that hold.
	MaxHold time.Duration
	// Now is the clock used to read HTTP-date Retry-After values. The
	// default value is time.Now.
	Now func() time.Time
	// Observer receives the Transport's admissions, refusals, waits and
	// 429 holds. The default value is the Limiter's own Observer (see
	// [Observed]), if any. Set, it receives the Transport's admissions and
	// waits instead of the Limiter's observer; a Limiter with an observer
	// still reports the holds to it.
	Observer Observer
	// HoldTimeout bounds the Limiter.Hold after a 429, which runs detached
	// from the request (its context may end as soon as RoundTrip
	// returns); a store's own per-call timeout applies within it. The
	// default value is DefaultHoldTimeout (5 s).
	HoldTimeout time.Duration

	mu     sync.Mutex
	closed bool
	holds  map[string]*pendingHold // keys with a Hold in flight
	wg     sync.WaitGroup          // the goroutines running holds
}

// RoundTrip waits for the request's tokens, then sends it. Limiter errors are
// returned as they are, so errors.Is works through an http.Client.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("limiter: Transport: %w", ErrClosed)
	}
	c, err := t.charge(req)
	obs := t.Observer
	if obs == nil && err == nil {
		obs = observerOf(t.Limiter)
	}
	if err == nil {
		err = t.holdLanded(req.Context(), c.needs)
	}
	if err == nil {
		err = wait(req.Context(), t.Limiter, c.needs, obs)
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		ctx := context.WithoutCancel(req.Context())
		ra, ok := t.retryAfter(resp)
		for _, nd := range c.holds {
			t.hold(ctx, nd, t.holdFor(ra, ok, nd.Limit), obs)
		}
	}
	return resp, err
}

// Close waits for the holds in flight (each bounded by HoldTimeout); then
// RoundTrip fails with an error matching [ErrClosed]. It does not close
// the Limiter or Base. It always returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

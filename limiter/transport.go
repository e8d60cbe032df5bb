package limiter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/retryafter"
)

// DefaultMaxHold caps how long a 429's Retry-After holds a key.
const DefaultMaxHold = 60 * time.Second

// Transport is an http.RoundTripper that takes tokens from a Limiter before
// every request it sends, so that each attempt, first or retry, pays for
// itself. A 429 answer holds the key (see [Limiter.Hold]) for its
// Retry-After, so that every process sharing the store pauses.
//
// Put a retry policy outside it, never inside: retries must pass through
// the limiter.
type Transport struct {
	// Base sends the requests. The default value is http.DefaultTransport.
	Base http.RoundTripper
	// Limiter is the store. It is required.
	Limiter Limiter
	// Limit applies to every request. It is required.
	Limit Limit
	// Key picks the limit key of a request. The default value is one key
	// per host: "host:" + req.URL.Host.
	Key func(*http.Request) string
	// Cost is how many tokens a request takes. The default value is 1 for
	// every request. An error stops the request.
	Cost func(*http.Request) (int, error)
	// MaxHold caps the Retry-After of a 429. The default value is
	// DefaultMaxHold (60 s). A 429 without a valid Retry-After holds the
	// key for one Period of the Limit.
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
}

// HostKey is the default Transport key: one per API host, like the
// original's per-host bucket.
func HostKey(req *http.Request) string { return "host:" + req.URL.Host }

// RoundTrip waits for the request's tokens, then sends it. Limiter errors are
// returned as they are, so errors.Is works through an http.Client.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, n, err := t.admission(req)
	obs := t.Observer
	if obs == nil && err == nil {
		obs = observerOf(t.Limiter)
	}
	if err == nil {
		err = wait(req.Context(), t.Limiter, key, t.Limit, n, obs)
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
		// A failed Hold must not hide the server's answer: the
		// limiter still spaces the next requests.
		d := t.holdFor(resp)
		herr := t.Limiter.Hold(context.WithoutCancel(req.Context()), key, t.Limit, d)
		// A limiter with its own observer reports its holds itself.
		if herr == nil && t.Observer != nil {
			t.Observer.Observe(req.Context(), Event{Kind: EventHeld, Op: "Transport", Key: key, N: n, Limit: t.Limit, Duration: d})
		}
	}
	return resp, err
}

func (t *Transport) admission(req *http.Request) (string, int, error) {
	if t.Limiter == nil {
		return "", 0, fmt.Errorf("limiter: Transport.Limiter is nil: %w", ErrInvalidArgument)
	}
	key := HostKey(req)
	if t.Key != nil {
		key = t.Key(req)
	}
	n := 1
	if t.Cost != nil {
		var err error
		if n, err = t.Cost(req); err != nil {
			return "", 0, fmt.Errorf("limiter: cost of %s %s: %w", req.Method, Redact(req.URL.String()), err)
		}
	}
	if err := CheckArgs(key, t.Limit, n); err != nil {
		var eb *ExceedsBurstError
		if errors.As(err, &eb) {
			return "", 0, fmt.Errorf("limiter: %s %s costs %d tokens: %w", req.Method, Redact(req.URL.String()), n, err)
		}
		return "", 0, err
	}
	return key, n, nil
}

// holdFor is the hold a 429 asks for: its Retry-After, capped, or one
// Period.
func (t *Transport) holdFor(resp *http.Response) time.Duration {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	maxHold := t.MaxHold
	if maxHold <= 0 {
		maxHold = DefaultMaxHold
	}
	d, ok := retryafter.Parse(resp.Header.Get("Retry-After"), now())
	if !ok {
		d = t.Limit.Period
	}
	return min(d, maxHold)
}

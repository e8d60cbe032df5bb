package limiter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/internal/retryafter"
)

// DefaultMaxHold caps how long a 429's Retry-After holds a key.
const DefaultMaxHold = 60 * time.Second

// DefaultHoldTimeout bounds the store call that holds a key after a 429.
const DefaultHoldTimeout = 5 * time.Second

// Transport is an http.RoundTripper that takes tokens from a Limiter before
// every request it sends, so that each attempt, first or retry, pays for
// itself. A 429 answer holds the key (see [Limiter.Hold]) for its
// Retry-After, so that every process sharing the store pauses. The hold
// runs after RoundTrip has returned the 429, so that a store slow to
// answer never keeps a caller past its deadline; [Transport.Close] waits
// for the holds in flight. A storm of 429s on one key costs one store call
// at a time: the holds that arrive meanwhile are merged into the next one.
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
	// Key picks the limit key of a request. The default value is
	// [HostKey]: one key per host, whatever its spelling ("host:" and the
	// host in lower case, its port unless the scheme's default).
	Key func(*http.Request) string
	// Cost is how many tokens a request takes. The default value is 1 for
	// every request. An error stops the request.
	Cost func(*http.Request) (int, error)
	// MaxHold caps the Retry-After of a 429. The default value is
	// DefaultMaxHold (60 s). A 429 without a valid Retry-After holds the
	// key for one Period of the Limit. Above the longest hold a Limiter
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

// pendingHold is the hold asked for while one is in flight on its key.
type pendingHold struct {
	end     time.Time // the latest end asked for
	n       int
	pending bool          // a hold asked for since the running one started
	landed  chan struct{} // closed when the running hold has returned
}

// HostKey is the default Transport key: one per API host, like the
// original's per-host bucket. It is [URLHostKey] of the request's URL.
func HostKey(req *http.Request) string { return URLHostKey(req.URL) }

// URLHostKey is the key of u's host: "host:" and the host in lower case,
// with its port unless it is the scheme's default (80 for http, 443 for
// https), so that every spelling of one host ("API.example",
// "api.example:443", "api.example.", an IP address in any of its forms,
// a Unicode name and its IDNA "xn--" name) shares one limit.
func URLHostKey(u *url.URL) string {
	h := strings.ToLower(u.Hostname())
	h = strings.TrimSuffix(h, ".") // "api.example." is "api.example"
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Is4In6() && a.Zone() == "" {
			a = a.Unmap() // "::ffff:127.0.0.1" is 127.0.0.1 to the dialer
		}
		h = a.String() // "0:0::0001" is "::1"
	} else if a, err := idna.Lookup.ToASCII(h); err == nil && !isASCII(h) {
		h = a // "bücher.example" is "xn--bcher-kva.example", as net/http dials it
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	p := u.Port()
	if n, err := strconv.ParseUint(p, 10, 16); err == nil {
		p = strconv.FormatUint(n, 10) // "0443" is port 443, as the dialer reads it
	}
	if p != "" && p != defaultPort(u.Scheme) {
		h += ":" + p
	}
	return "host:" + h
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// defaultPort is the port a URL of scheme goes to when it names none.
func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
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
	key, n, err := t.admission(req)
	obs := t.Observer
	if obs == nil && err == nil {
		obs = observerOf(t.Limiter)
	}
	if err == nil {
		err = t.holdLanded(req.Context(), key)
	}
	if err == nil {
		err = wait(req.Context(), t.Limiter, []Need{{Key: key, Limit: t.Limit, N: n}}, obs)
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
		t.hold(context.WithoutCancel(req.Context()), key, n, t.holdFor(resp), obs)
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

// holdLanded waits until no hold started by this Transport is running on
// key, or ctx ends: a request on key (a retry of the 429 among them) must
// not take a slot the hold is about to take away. The wait is bounded by
// HoldTimeout per hold.
func (t *Transport) holdLanded(ctx context.Context, key string) error {
	for {
		t.mu.Lock()
		h := t.holds[key]
		var landed chan struct{}
		if h != nil {
			landed = h.landed
		}
		t.mu.Unlock()
		if landed == nil {
			return nil
		}
		select {
		case <-landed:
		case <-ctx.Done():
			return fmt.Errorf("limiter: Transport: waiting for the hold after a 429 on %q: %w", key, context.Cause(ctx))
		}
	}
}

// hold holds key for d after a 429, on a goroutine of its own, or merges
// d into the next hold when one is in flight on key.
func (t *Transport) hold(ctx context.Context, key string, n int, d time.Duration, obs Observer) {
	end := time.Now().Add(d)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.holdFailed(ctx, obs, key, n, d, fmt.Errorf("limiter: Transport: %w", ErrClosed))
		return
	}
	if h := t.holds[key]; h != nil {
		if end.After(h.end) {
			h.end, h.n = end, n
		}
		h.pending = true
		t.mu.Unlock()
		return
	}
	if t.holds == nil {
		t.holds = map[string]*pendingHold{}
	}
	h := &pendingHold{end: end, n: n, landed: make(chan struct{})}
	t.holds[key] = h
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		for {
			t.holdOnce(ctx, key, n, d, obs)
			applied := end
			t.mu.Lock()
			close(h.landed)
			if !h.pending || !h.end.After(applied) {
				delete(t.holds, key)
				t.mu.Unlock()
				return
			}
			h.landed = make(chan struct{})
			h.pending = false
			end, n = h.end, h.n
			t.mu.Unlock()
			if d = time.Until(end); d <= 0 {
				d = time.Millisecond // too late to matter; still one hold
			}
		}
	}()
}

// holdOnce runs one Hold within HoldTimeout. A failed Hold goes to the
// observer: the 429 has been returned already.
func (t *Transport) holdOnce(ctx context.Context, key string, n int, d time.Duration, obs Observer) {
	timeout := t.HoldTimeout
	if timeout <= 0 {
		timeout = DefaultHoldTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	err := t.Limiter.Hold(hctx, key, t.Limit, d)
	cancel()
	if err != nil {
		t.holdFailed(ctx, obs, key, n, d, err)
		return
	}
	// A limiter with its own observer reports its holds itself.
	if t.Observer != nil {
		t.Observer.Observe(ctx, Event{Kind: EventHeld, Op: "Transport", Key: key, N: n, Limit: t.Limit, Duration: d})
	}
}

// holdFailed reports a Hold that failed or could not start.
func (t *Transport) holdFailed(ctx context.Context, obs Observer, key string, n int, d time.Duration, err error) {
	if obs != nil {
		obs.Observe(ctx, Event{Kind: EventStoreError, Op: "Transport.Hold", Key: key, N: n, Limit: t.Limit, Duration: d,
			Err: fmt.Errorf("limiter: hold after a 429: %w", err)})
	}
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
			return "", 0, fmt.Errorf("limiter: cost of %s %s: %w", req.Method, redact.URL(req.URL), err)
		}
	}
	if err := checkNeeds("Transport", []Need{{Key: key, Limit: t.Limit, N: n}}); err != nil {
		var eb *ExceedsBurstError
		if errors.As(err, &eb) {
			return "", 0, fmt.Errorf("limiter: %s %s costs %d tokens: %w", req.Method, redact.URL(req.URL), n, err)
		}
		return "", 0, err
	}
	return key, n, nil
}

// holdFor is the hold a 429 asks for: its Retry-After, capped, or one
// Period; never more than a Limiter's Hold takes (CheckHold), so that a
// huge Retry-After under a huge MaxHold holds the key instead of failing.
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
	return min(d, maxHold, maxTolerance)
}

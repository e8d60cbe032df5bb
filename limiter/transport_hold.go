package limiter

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/retryafter"
)

// pendingHold is the hold asked for while one is in flight on its key.
type pendingHold struct {
	end     time.Time     // the latest end asked for
	need    Need          // the need of the request that asked for it
	pending bool          // a hold asked for since the running one started
	landed  chan struct{} // closed when the running hold has returned
}

// holdLanded waits until no hold started by this Transport is running on
// the key of any of needs, or ctx ends: a request on such a key (a retry
// of the 429 among them) must not take a slot the hold is about to take
// away. The wait is bounded by HoldTimeout per hold.
func (t *Transport) holdLanded(ctx context.Context, needs []Need) error {
	for {
		var key string
		var landed chan struct{}
		t.mu.Lock()
		for _, nd := range needs {
			if h := t.holds[nd.Key]; h != nil {
				key, landed = nd.Key, h.landed
				break
			}
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

// hold holds nd's key under nd's Limit for d after a 429, on a goroutine
// of its own, or merges d into the next hold when one is in flight on the
// key.
func (t *Transport) hold(ctx context.Context, nd Need, d time.Duration, obs Observer) {
	end := time.Now().Add(d)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.holdFailed(ctx, obs, nd, d, fmt.Errorf("limiter: Transport: %w", ErrClosed))
		return
	}
	if h := t.holds[nd.Key]; h != nil {
		if end.After(h.end) {
			h.end, h.need = end, nd
		}
		h.pending = true
		t.mu.Unlock()
		return
	}
	if t.holds == nil {
		t.holds = map[string]*pendingHold{}
	}
	h := &pendingHold{end: end, need: nd, landed: make(chan struct{})}
	t.holds[nd.Key] = h
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		for {
			t.holdOnce(ctx, nd, d, obs)
			applied := end
			t.mu.Lock()
			close(h.landed)
			if !h.pending || !h.end.After(applied) {
				delete(t.holds, nd.Key)
				t.mu.Unlock()
				return
			}
			h.landed = make(chan struct{})
			h.pending = false
			end, nd = h.end, h.need
			t.mu.Unlock()
			if d = time.Until(end); d <= 0 {
				d = time.Millisecond // too late to matter; still one hold
			}
		}
	}()
}

// holdOnce runs one Hold within HoldTimeout. A failed Hold goes to the
// observer: the 429 has been returned already.
func (t *Transport) holdOnce(ctx context.Context, nd Need, d time.Duration, obs Observer) {
	timeout := t.HoldTimeout
	if timeout <= 0 {
		timeout = DefaultHoldTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	err := t.Limiter.Hold(hctx, nd.Key, nd.Limit, d)
	cancel()
	if err != nil {
		t.holdFailed(ctx, obs, nd, d, err)
		return
	}
	// A limiter with its own observer reports its holds itself.
	if t.Observer != nil {
		t.Observer.Observe(ctx, Event{Kind: EventHeld, Op: "Transport", Key: nd.Key, N: nd.N, Limit: nd.Limit, Duration: d})
	}
}

// holdFailed reports a Hold that failed or could not start.
func (t *Transport) holdFailed(ctx context.Context, obs Observer, nd Need, d time.Duration, err error) {
	if obs != nil {
		obs.Observe(ctx, Event{Kind: EventStoreError, Op: "Transport.Hold", Key: nd.Key, N: nd.N, Limit: nd.Limit, Duration: d,
			Err: fmt.Errorf("limiter: hold after a 429: %w", err)})
	}
}

// retryAfter is the Retry-After of a 429; ok is false when it has no
// valid one.
func (t *Transport) retryAfter(resp *http.Response) (d time.Duration, ok bool) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	return retryafter.Parse(resp.Header.Get("Retry-After"), now())
}

// holdFor is how long a 429 holds a key under limit: its Retry-After ra
// when ok, else one Period of limit, capped at MaxHold; never more than a
// Limiter's Hold takes (checkHold), so that a huge Retry-After under a
// huge MaxHold holds the key instead of failing.
func (t *Transport) holdFor(ra time.Duration, ok bool, limit Limit) time.Duration {
	maxHold := t.MaxHold
	if maxHold <= 0 {
		maxHold = DefaultMaxHold
	}
	if !ok {
		ra = limit.Period
	}
	return min(ra, maxHold, maxTolerance)
}

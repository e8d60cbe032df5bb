package limiter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// slowHold is a Limiter whose Hold blocks until release is closed or its
// context ends, as a store slow to answer does.
type slowHold struct {
	limiter.Limiter
	release  chan struct{}
	started  chan struct{} // one value per Hold call
	inFlight atomic.Int64
	maxIn    atomic.Int64
	calls    atomic.Int64
	mu       sync.Mutex
	longest  time.Duration
}

func newSlowHold() *slowHold {
	return &slowHold{Limiter: memory.New(), release: make(chan struct{}), started: make(chan struct{}, 1000)}
}

func (s *slowHold) Hold(ctx context.Context, key string, limit limiter.Limit, d time.Duration) error {
	s.calls.Add(1)
	in := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxIn.Load()
		if in <= m || s.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.longest = max(s.longest, d)
	s.mu.Unlock()
	return s.Limiter.Hold(ctx, key, limit, d)
}

// roundTrip runs tr.RoundTrip on a GET of url with ctx, failing the test
// when it has not returned within limit (so that a RoundTrip stuck on the
// Hold fails instead of hanging).
func roundTrip(t *testing.T, ctx context.Context, tr http.RoundTripper, url string, limit time.Duration) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-time.After(limit):
		t.Fatalf("RoundTrip still blocked after %s", limit)
		return nil, nil
	}
}

// want429 round-trips a request to url on tr (bounded by 5 s), fails the
// test unless the answer is a 429, closes its body and returns it.
func want429(t *testing.T, ctx context.Context, tr http.RoundTripper, url string) *http.Response {
	t.Helper()
	resp, err := roundTrip(t, ctx, tr, url, 5*time.Second)
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("RoundTrip = %v, %v; want the 429", resp, err)
	}
	resp.Body.Close()
	return resp
}

// TestTransport429DoesNotWaitForHold: a 429 comes back at once while the
// store is still answering the Hold, within the request's deadline; Close
// waits for the Hold (issue 13: the caller was kept 3 s past a 200 ms
// deadline).
func TestTransport429DoesNotWaitForHold(t *testing.T) {
	lim := newSlowHold()
	defer lim.Limiter.Close()
	srv, _ := server(t, 429, http.Header{"Retry-After": {"3"}})
	tr := &limiter.Transport{Limiter: lim, Limit: limiter.PerSecond(10), Key: func(*http.Request) string { return "k" }}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	want429(t, ctx, tr, srv.URL)
	<-lim.started // the Hold runs, blocked
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with a Hold in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(lim.release)
	<-closed
	st, err := lim.Status(context.Background(), "k", limiter.PerSecond(10))
	if err != nil || st.NextAfter < 2*time.Second {
		t.Fatalf("after Close, Status = %+v, %v; want the key held for the Retry-After (3 s)", st, err)
	}
	if _, err := roundTrip(t, context.Background(), tr, srv.URL, 5*time.Second); !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("RoundTrip after Close: %v, want ErrClosed", err)
	}
}

// TestTransportFailedHoldGoesToObserver: a Hold that the store does not
// answer within HoldTimeout is reported to the observer, and the caller
// still gets the 429.
func TestTransportFailedHoldGoesToObserver(t *testing.T) {
	lim := newSlowHold() // never released: each Hold ends with its context
	defer lim.Limiter.Close()
	srv, _ := server(t, 429, nil)
	rec := &recorder{}
	tr := &limiter.Transport{Limiter: lim, Limit: limiter.PerSecond(10), HoldTimeout: 30 * time.Millisecond, Observer: rec}
	want429(t, context.Background(), tr, srv.URL)
	tr.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	events := rec.events
	var failed *limiter.Event
	for i, e := range events {
		if e.Kind == limiter.EventStoreError {
			failed = &events[i]
		}
		if e.Kind == limiter.EventHeld {
			t.Errorf("a failed Hold reported as held: %+v", e)
		}
	}
	if failed == nil || !errors.Is(failed.Err, context.DeadlineExceeded) || failed.Op != "Transport.Hold" {
		t.Fatalf("events %+v: want a store-error of Transport.Hold matching DeadlineExceeded", events)
	}
}

// TestTransport429StormOneHoldAtATime: 429s arriving while a Hold is in
// flight on their key do not each start a store call: they are merged
// into one next Hold with the longest Retry-After. The storm's requests
// are on the network before the first 429 returns (requests made after it
// wait for its Hold: TestTransportRequestAfter429WaitsForHold).
func TestTransport429StormOneHoldAtATime(t *testing.T) {
	lim := newSlowHold()
	defer lim.Limiter.Close()
	var retry atomic.Int64
	gate := make(chan struct{})
	var gated atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ra := r.URL.Query().Get("ra")
		if ra == "" {
			ra = string(rune('0' + retry.Load()))
		} else {
			gated.Add(1)
			<-gate
		}
		w.Header().Set("Retry-After", ra)
		w.WriteHeader(429)
	}))
	t.Cleanup(srv.Close)
	tr := &limiter.Transport{Limiter: lim, Limit: limiter.Limit{Rate: 1000, Period: time.Second, Burst: 1000},
		Key: func(*http.Request) string { return "k" }}
	const storm = 50
	retry.Store(1)
	var wg sync.WaitGroup
	for i := range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"?ra="+string(rune('0'+i%10)), nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); gated.Load() < storm; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(gate)
			t.Fatalf("%d of %d storm requests reached the server", gated.Load(), storm)
		}
	}
	resp, err := roundTrip(t, context.Background(), tr, srv.URL, 5*time.Second)
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	resp.Body.Close()
	<-lim.started
	close(gate)
	wg.Wait()
	close(lim.release)
	tr.Close()
	if got := lim.maxIn.Load(); got != 1 {
		t.Errorf("%d Holds in flight at once on one key, want 1", got)
	}
	if got := lim.calls.Load(); got != 2 {
		t.Errorf("%d Hold calls for 1+%d 429s, want 2 (the first, then the merged rest)", got, storm)
	}
	if lim.longest < 8*time.Second {
		t.Errorf("longest Hold %s, want the storm's longest Retry-After (9 s) less the time passed", lim.longest)
	}
}

// TestTransportRequestAfter429WaitsForHold: a request on a key whose Hold
// after a 429 is still on its way to the store (a retry of that 429, say)
// waits for it before taking a slot, so that it is not sent inside the
// hold; it never waits past its own deadline.
func TestTransportRequestAfter429WaitsForHold(t *testing.T) {
	lim := newSlowHold()
	defer lim.Limiter.Close()
	srv, hits := server(t, 429, http.Header{"Retry-After": {"2"}})
	tr := &limiter.Transport{Limiter: lim, Limit: limiter.PerSecond(100), Key: func(*http.Request) string { return "k" }}
	want429(t, context.Background(), tr, srv.URL)
	<-lim.started // the Hold runs, blocked
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := roundTrip(t, ctx, tr, srv.URL, 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RoundTrip during the Hold: %v, want its deadline", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the server saw %d requests while the Hold was on its way, want 1", n)
	}
	close(lim.release)
	tr.Close()
	st, err := lim.Status(context.Background(), "k", limiter.PerSecond(100))
	if err != nil || st.NextAfter < time.Second {
		t.Fatalf("Status = %+v, %v; want the key held for the Retry-After (2 s)", st, err)
	}
}

// TestTransportErrorsHideCredentials: the request URL in the Transport's
// errors has its userinfo and credential values masked (url.URL.Redacted
// kept the query's token), and a path holding '@' as it is.
func TestTransportErrorsHideCredentials(t *testing.T) {
	l := memory.New()
	defer l.Close()
	tr := &limiter.Transport{Limiter: l, Limit: limiter.PerSecond(1),
		Cost: func(*http.Request) (int, error) { return 0, errors.New("no weight known") }}
	req, _ := http.NewRequest(http.MethodGet, "http://me:hunter22@127.0.0.1:1/users/@me?token=tok3n-s3cret", nil)
	_, err := tr.RoundTrip(req)
	if err == nil {
		t.Fatal("no error from a failing Cost")
	}
	for _, s := range []string{"hunter22", "tok3n-s3cret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows %q", err, s)
		}
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1/users/@me") {
		t.Errorf("error %q does not show the path as it is", err)
	}
}

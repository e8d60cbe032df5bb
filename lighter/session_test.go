package lighter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/trickle"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

var quiet = slog.New(slog.DiscardHandler)

// scripted answers each request with the next status of a script (200 after
// it ends), counting requests.
func scripted(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		status := 200
		if i < len(statuses) {
			status = statuses[i]
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"code":200,"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newSession(t *testing.T, cfg lighter.Config) *lighter.Session {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := lighter.NewSession(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every attempt, retries included, takes its own token.
func TestEveryAttemptPaysItsToken(t *testing.T) {
	srv, hits := scripted(t, 503, 502, 200)
	lim := memory.New()
	defer lim.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, RequestsPerSecond: 0.001, Burst: 10, BackoffFactor: 0.0001})
	var out map[string]any
	if err := s.GetJSON(context.Background(), "/api/v1/x", nil, &out); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 3 {
		t.Fatalf("server saw %d attempts, want 3", hits.Load())
	}
	st, err := lim.Status(context.Background(), s.Key(), s.Limit())
	if err != nil {
		t.Fatal(err)
	}
	if used := 10 - st.Remaining; used != 3 {
		t.Fatalf("3 attempts took %d tokens, want 3: retries must each pay", used)
	}
}

// A 429 holds the shared key for every Session on the store.
func TestTooManyHoldsSharedKey(t *testing.T) {
	srv := tooManyRequests(t, "40")
	lim := memory.New()
	defer lim.Close()
	a := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, RateLimitKey: "fleet", Retries: lighter.NoRetries})
	b := newSession(t, lighter.Config{APIURL: "http://127.0.0.1:1", Limiter: lim, RateLimitKey: "fleet", Retries: lighter.NoRetries})
	_, err := a.Get(context.Background(), "/api/v1/x", nil)
	var se *lighter.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 {
		t.Fatalf("a: %v, want a 429 StatusError", err)
	}
	a.Close() // the hold runs after the 429 came back: Close waits for it
	// b, another Session (another host, for all it knows), now waits
	// about 40 s for its slot: with a 1 s deadline it fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = b.Get(ctx, "/api/v1/x", nil)
	if !errors.Is(err, limiter.ErrSlotTooLate) {
		t.Fatalf("b after a's 429: %v, want ErrSlotTooLate", err)
	}
	st, _ := lim.Status(context.Background(), "fleet", b.Limit())
	if st.NextAfter < 39*time.Second || st.NextAfter > 40*time.Second {
		t.Fatalf("after Retry-After 40 the next token comes in %s", st.NextAfter)
	}
}

// blockingHold is a Limiter whose Hold blocks until release is closed.
type blockingHold struct {
	limiter.Limiter
	release chan struct{}
	held    atomic.Bool
}

func (b *blockingHold) Hold(ctx context.Context, key string, lim limiter.Limit, d time.Duration) error {
	<-b.release
	b.held.Store(true)
	return b.Limiter.Hold(ctx, key, lim, d)
}

// A 429 comes back while the store is still answering its Hold, and
// Close waits for that Hold (issue 13).
func TestSessionCloseWaitsForHold(t *testing.T) {
	srv, _ := scripted(t, 429)
	lim := &blockingHold{Limiter: memory.New(), release: make(chan struct{})}
	defer lim.Limiter.Close()
	s, err := lighter.NewSession(context.Background(), lighter.Config{APIURL: srv.URL, Limiter: lim, Retries: lighter.NoRetries, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var se *lighter.StatusError
	if _, err := s.Get(ctx, "/api/v1/x", nil); !errors.As(err, &se) || se.StatusCode != 429 {
		t.Fatalf("Get: %v, want the 429 while the Hold is blocked", err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with a Hold in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(lim.release)
	<-closed
	if !lim.held.Load() {
		t.Fatal("Close returned before the Hold ran")
	}
}

// countingLimiter counts the reservations asked of a Limiter.
type countingLimiter struct {
	limiter.Limiter
	reserves atomic.Int64
}

func (c *countingLimiter) ReserveN(ctx context.Context, key string, lim limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	c.reserves.Add(1)
	return c.Limiter.ReserveN(ctx, key, lim, n, maxWait)
}

// Limiter errors are permanent: one attempt, no retry, no request sent.
func TestLimiterErrorsNotRetried(t *testing.T) {
	srv, hits := scripted(t)
	closed := memory.New()
	closed.Close()
	lim := &countingLimiter{Limiter: closed}
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, BackoffFactor: 0.0001})
	_, err := s.Get(context.Background(), "/api/v1/x", nil)
	if !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("closed limiter: %v", err)
	}
	if n := lim.reserves.Load(); n != 1 {
		t.Fatalf("the limiter was asked %d times: a permanent error was retried", n)
	}
	if errors.As(err, new(*retrypolicy.Error)) {
		t.Fatalf("a permanent error went through the retries: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("server saw %d requests through a closed limiter", hits.Load())
	}
}

// The premium tier costs each endpoint its weight; tokens/create cannot
// fit and fails naming the endpoint.
func TestPremiumWeights(t *testing.T) {
	srv, hits := scripted(t)
	start := time.Now()
	lim := memory.New(memory.WithClock(func() time.Time { return start })) // frozen: no token comes back meanwhile
	defer lim.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, AccountTier: "premium"})
	ctx := context.Background()
	if err := s.GetJSON(ctx, "/api/v1/trades", nil, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := lim.Status(ctx, s.Key(), s.Limit())
	if st.Remaining != 3000-600 {
		t.Fatalf("after /trades (600) the premium bucket holds %d, want %d", st.Remaining, 3000-600)
	}
	err := s.GetJSON(ctx, "/api/v1/tokens/create", nil, nil)
	if !errors.Is(err, limiter.ErrExceedsBurst) || !strings.Contains(err.Error(), "/api/v1/tokens/create") {
		t.Fatalf("tokens/create on premium: %v, want ErrExceedsBurst naming the endpoint", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("server saw %d requests, want 1", hits.Load())
	}
}

// The timeout applies per attempt to the response headers: a slow attempt
// is cut and retried, a slow body is not cut.
func TestTimeoutPerAttempt(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1: // headers too late
			select {
			case <-time.After(2 * time.Second):
			case <-release:
			}
			return
		default: // headers at once, body after longer than the timeout
			w.WriteHeader(200)
			io.WriteString(w, `{"code":200,`)
			w.(http.Flusher).Flush()
			time.Sleep(400 * time.Millisecond)
			io.WriteString(w, `"ok":true}`)
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 100,
		Timeout: 200 * time.Millisecond, BackoffFactor: 0.0001})
	var out struct{ OK bool }
	if err := s.GetJSON(context.Background(), "/api/v1/x", nil, &out); err != nil || !out.OK {
		t.Fatalf("GetJSON: %+v, %v; want the slow header attempt retried and the slow body read in full", out, err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d attempts, want 2", n.Load())
	}
}

func TestStatusAndAPIErrors(t *testing.T) {
	srv := lightertest.NewServer(lightertest.Options{})
	defer srv.Close()
	srv.SetPathStatus("/api/v1/missing", 404)
	srv.SetPathCode("/api/v1/bad", 21100, "account not found")
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000, BackoffFactor: 0.0001})
	ctx := context.Background()
	err := s.GetJSON(ctx, "/api/v1/missing", nil, nil)
	var se *lighter.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || len(se.Body) == 0 {
		t.Fatalf("404: %v", err)
	}
	err = s.GetJSON(ctx, "/api/v1/bad", nil, nil)
	var ae *lighter.APIError
	if !errors.As(err, &ae) || ae.Code != 21100 || ae.Message != "account not found" {
		t.Fatalf("code 21100: %v", err)
	}
	// Retries exhausted on 503: a StatusError that unwraps to the
	// retry policy's error with the attempts made.
	srv.FailNext(10, 503)
	err = s.GetJSON(ctx, "/api/v1/orderBooks", nil, nil)
	var re *retrypolicy.Error
	if !errors.As(err, &se) || se.StatusCode != 503 || !errors.As(err, &re) || re.Attempts != 6 {
		t.Fatalf("503 x 6: %v", err)
	}
}

func TestResolve(t *testing.T) {
	s := newSession(t, lighter.Config{APIURL: "https://example.invalid/base/", RateLimitURL: "memory://"})
	u, err := s.Resolve("/api/v1/account", map[string][]string{"by": {"index"}, "value": {"3"}})
	if err != nil || u.String() != "https://example.invalid/base/api/v1/account?by=index&value=3" {
		t.Fatalf("Resolve: %v, %v", u, err)
	}
	if _, err := s.Resolve("https://evil.example/x", nil); err == nil {
		t.Fatalf("Resolve accepted an absolute URL")
	}
	if got := s.URL(); got.String() != "https://example.invalid/base/" {
		t.Fatalf("URL() = %s", got)
	}
}

func TestCloseKeepsCallersLimiter(t *testing.T) {
	lim := memory.New()
	defer lim.Close()
	s, err := lighter.NewSession(context.Background(), lighter.Config{Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lim.AllowN(context.Background(), "k", limiter.PerSecond(1), 1); err != nil {
		t.Fatalf("the caller's limiter was closed by Session.Close: %v", err)
	}
	own, err := lighter.NewSession(context.Background(), lighter.Config{RateLimitURL: "memory://"})
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	if _, err := own.Limiter().AllowN(context.Background(), "k", limiter.PerSecond(1), 1); !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("the Session's own limiter is still open after Close: %v", err)
	}
}

// The Observer of the Config sees every attempt's admission and a 429's
// hold.
func TestObserver(t *testing.T) {
	srv, _ := scripted(t, 429)
	var admitted, held atomic.Int64
	obs := limiter.ObserverFunc(func(_ context.Context, e limiter.Event) {
		switch e.Kind {
		case limiter.EventAdmitted:
			admitted.Add(1)
		case limiter.EventHeld:
			held.Add(1)
		}
	})
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000, Burst: 5,
		Retries: lighter.NoRetries, Observer: obs})
	ctx := context.Background()
	if _, err := s.Get(ctx, "/a", nil); err == nil {
		t.Fatal("want the 429 as an error")
	}
	if err := s.GetJSON(ctx, "/b", nil, nil); err != nil {
		t.Fatal(err)
	}
	if admitted.Load() != 2 || held.Load() != 1 {
		t.Fatalf("observer saw %d admissions and %d holds, want 2 and 1", admitted.Load(), held.Load())
	}
}

// An error answer whose body trickles forever: the StatusError comes back
// within a second or so, with what came of the body, even without a
// deadline on the call.
func TestEndlessErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trickle.Endless(w, r, 404)
	}))
	defer srv.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, err := s.Get(ctx, "/api/v1/x", nil); done <- err }()
	select {
	case err := <-done:
		var se *lighter.StatusError
		if !errors.As(err, &se) || se.StatusCode != 404 || len(se.Body) == 0 {
			t.Fatalf("Get: %v, want a 404 StatusError with the start of the body", err)
		}
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Get still reading an endless error body")
	}
}

// tooManyRequests is a server that answers every request 429 with the
// given Retry-After, closed when the test ends.
func tooManyRequests(t *testing.T, retryAfter string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(429)
	}))
	t.Cleanup(srv.Close)
	return srv
}

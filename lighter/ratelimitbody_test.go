package lighter_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// holdRecorder records the holds asked of a Limiter, without holding.
type holdRecorder struct {
	limiter.Limiter
	mu    sync.Mutex
	holds []time.Duration
}

func (h *holdRecorder) Hold(_ context.Context, _ string, _ limiter.Limit, d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holds = append(h.holds, d)
	return nil
}

// settled closes s, which waits for the holds its Transport runs after a
// 429, and returns the holds recorded.
func (h *holdRecorder) settled(s *lighter.Session) []time.Duration {
	s.Close()
	return h.Holds()
}

func (h *holdRecorder) Holds() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.holds...)
}

// bodyServer answers each request with the next of answers (HTTP status
// and body), then with the last one.
func bodyServer(t *testing.T, answers ...struct {
	status int
	body   string
}) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(answers)-1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(answers[i].status)
		io.WriteString(w, answers[i].body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

type answer = struct {
	status int
	body   string
}

const limitedBody = `{"code":429,"message":"Too Many Requests"}`

// retried429 serves first, then a good answer, to SystemConfig on a
// session of two retries; it fails the test unless the call returns the
// good answer with every response body closed, and returns the requests
// the server saw, the holds of the settled session and its limit's period.
func retried429(t *testing.T, first answer) (requests int64, holds []time.Duration, period time.Duration) {
	t.Helper()
	srv, hits := bodyServer(t, first, answer{200, `{"code":200,"liquidity_pool_index":77}`})
	rec := &holdRecorder{Limiter: memory.New()}
	defer rec.Limiter.Close()
	bodies := &testutil.BodyCounter{Next: http.DefaultTransport}
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: 2, Base: bodies, RequestsPerSecond: 1000, Burst: 10})
	cfg, err := s.SystemConfig(context.Background())
	if err != nil || cfg.LiquidityPoolIndex != 77 {
		t.Fatalf("SystemConfig: %v, %+v: want the retried answer", err, cfg)
	}
	holds = rec.settled(s)
	if n := bodies.Open.Load(); n != 0 {
		t.Fatalf("%d response bodies left open", n)
	}
	return hits.Load(), holds, s.Limit().Period
}

// A body whose code is 429, whatever the HTTP status, holds the key and is
// retried as a 429 status is; every body is closed.
func TestBodyCode429IsRateLimiting(t *testing.T) {
	for _, status := range []int{200, 400} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			n, got, period := retried429(t, answer{status, limitedBody})
			if n != 2 {
				t.Fatalf("%d requests, want 2 (the rate-limited one retried)", n)
			}
			if len(got) != 1 || got[0] != period {
				t.Fatalf("holds %v, want one of a period (%s): no Retry-After", got, period)
			}
		})
	}
}

// Without retries, the caller sees a 429 StatusError with the body.
func TestBodyCode429WithoutRetries(t *testing.T) {
	srv, _ := bodyServer(t, answer{200, limitedBody})
	rec := &holdRecorder{Limiter: memory.New()}
	defer rec.Limiter.Close()
	bodies := &testutil.BodyCounter{Next: http.DefaultTransport}
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: lighter.NoRetries, Base: bodies, RequestsPerSecond: 1000, Burst: 10})
	_, err := s.SystemConfig(context.Background())
	var se *lighter.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || !strings.Contains(string(se.Body), "Too Many Requests") {
		t.Fatalf("error %v, want a 429 StatusError with the body", err)
	}
	if len(rec.settled(s)) != 1 {
		t.Fatalf("holds %v, want 1", rec.settled(s))
	}
	if n := bodies.Open.Load(); n != 0 {
		t.Fatalf("%d response bodies left open", n)
	}
}

// Other bodies pass untouched: other codes, long answers (read past the
// peek), and a code nested below the top level.
func TestBodyCodeOthersUntouched(t *testing.T) {
	long := `{"code":200,"message":"` + strings.Repeat("x", 10000) + `","liquidity_pool_index":5}`
	for _, tc := range []struct {
		name, body string
		wantCode   int // APIError code, 0 for success
	}{
		{"code 200", `{"code":200,"liquidity_pool_index":5}`, 0},
		{"long answer", long, 0},
		{"other code", `{"code":20001,"message":"invalid param"}`, 20001},
		{"nested 429", `{"code":200,"liquidity_pool_index":5,"inner":{"code":429}}`, 0},
		{"not JSON", `429`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := bodyServer(t, answer{200, tc.body})
			rec := &holdRecorder{Limiter: memory.New()}
			defer rec.Limiter.Close()
			s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: 2, RequestsPerSecond: 1000, Burst: 10})
			cfg, err := s.SystemConfig(context.Background())
			var ae *lighter.APIError
			switch {
			case tc.wantCode == 0 && (err != nil || cfg.LiquidityPoolIndex != 5):
				t.Fatalf("%v, %+v", err, cfg)
			case tc.wantCode > 0 && (!errors.As(err, &ae) || ae.Code != tc.wantCode):
				t.Fatalf("error %v, want APIError %d", err, tc.wantCode)
			case tc.wantCode < 0 && (err == nil || !strings.Contains(err.Error(), "decoding")):
				t.Fatalf("error %v, want a decoding error", err)
			}
			if hits.Load() != 1 || len(rec.settled(s)) != 0 {
				t.Fatalf("%d requests, holds %v: want 1 and none", hits.Load(), rec.settled(s))
			}
		})
	}
}

package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// newFake is a memory limiter on a clock that stands still until moved.
func newFake() (*testutil.Clock, *memory.Limiter) {
	c := testutil.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return c, memory.New(memory.WithClock(c.Now))
}

// server answers with the given status and headers, counting requests.
// tooMany is a server answering every request 429, with Retry-After
// retryAfter unless it is "".
func tooMany(t *testing.T, retryAfter string) *httptest.Server {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	srv, _ := server(t, http.StatusTooManyRequests, h)
	return srv
}

func server(t *testing.T, status int, header http.Header) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, "body")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// loadRig is a server that answers 429 (Retry-After 0) to requests with
// s=429 and 200 to the others, a base transport and a memory limiter for
// a load test, all closed when the test ends.
func loadRig(t *testing.T) (url string, base *http.Transport, lim *memory.Limiter) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("s") == "429" {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}
	}))
	t.Cleanup(srv.Close)
	base = &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	lim = memory.New()
	t.Cleanup(func() { lim.Close() })
	return srv.URL, base, lim
}

// sendAll sends n requests through tr at once, the i-th to target(i),
// each within 5 s: a RoundTrip error fails t. Then it closes tr and base's
// idle connections.
func sendAll(t *testing.T, tr *limiter.Transport, base *http.Transport, n int, target func(i int) string) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target(i), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("RoundTrip: %v", err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	tr.Close()
	base.CloseIdleConnections()
}

func get(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestTransportTakesTokensPerRequestAndHost(t *testing.T) {
	_, l := newFake()
	defer l.Close()
	srv, hits := server(t, 200, nil)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 2}
	client := &http.Client{Transport: &limiter.Transport{Limiter: l, Limit: lim}}
	for i := range 2 {
		if code, err := get(t, client, srv.URL); err != nil || code != 200 {
			t.Fatalf("request %d: %d, %v", i, code, err)
		}
	}
	// The third needs a slot an hour away: a short deadline fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	_, err := client.Do(req)
	if !errors.Is(err, limiter.ErrSlotTooLate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third request: %v, want ErrSlotTooLate through the http.Client", err)
	}
	if hits.Load() != 2 {
		t.Fatalf("server saw %d requests, want 2", hits.Load())
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	st, err := l.Status(context.Background(), "host:"+host, lim)
	if err != nil || st.Remaining != 0 {
		t.Fatalf("the host key was not used: %+v, %v", st, err)
	}
}

func TestTransportKeyAndCost(t *testing.T) {
	_, l := newFake()
	defer l.Close()
	srv, _ := server(t, 200, nil)
	lim := limiter.Limit{Rate: 1, Period: time.Hour, Burst: 10}
	tr := &limiter.Transport{
		Limiter: l, Limit: lim,
		Key: func(*http.Request) string { return "fleet" },
		Cost: func(r *http.Request) (int, error) {
			if strings.HasSuffix(r.URL.Path, "/heavy") {
				return 6, nil
			}
			if strings.HasSuffix(r.URL.Path, "/huge") {
				return 11, nil
			}
			if strings.HasSuffix(r.URL.Path, "/bad") {
				return 0, errors.New("no weight known")
			}
			return 1, nil
		},
	}
	client := &http.Client{Transport: tr}
	if _, err := get(t, client, srv.URL+"/heavy"); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Status(context.Background(), "fleet", lim)
	if st.Remaining != 4 {
		t.Fatalf("after a request of cost 6 on burst 10: %d left, want 4", st.Remaining)
	}
	_, err := get(t, client, srv.URL+"/huge")
	if !errors.Is(err, limiter.ErrExceedsBurst) || !strings.Contains(err.Error(), "/huge costs 11 tokens") {
		t.Fatalf("request costing more than the burst: %v", err)
	}
	_, err = get(t, client, srv.URL+"/bad")
	if err == nil || !strings.Contains(err.Error(), "no weight known") {
		t.Fatalf("cost error: %v", err)
	}
}

func TestTransport429Holds(t *testing.T) {
	clk, _ := newFake()
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"HTTP date", clk.Now().Add(9 * time.Second).Format(http.TimeFormat), 9 * time.Second},
		{"absent: one period", "", 2 * time.Second},
		{"malformed: one period", "soon", 2 * time.Second},
		{"capped", "3600", 30 * time.Second},
		{"10^30 seconds: capped", "1000000000000000000000000000000", 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk, l := newFake()
			defer l.Close()
			srv := tooMany(t, tt.retryAfter)
			lim := limiter.Limit{Rate: 4, Period: 2 * time.Second, Burst: 1}
			tr := &limiter.Transport{Limiter: l, Limit: lim, MaxHold: 30 * time.Second, Now: clk.Now,
				Key: func(*http.Request) string { return "k" }}
			code, err := get(t, &http.Client{Transport: tr}, srv.URL)
			if err != nil || code != 429 {
				t.Fatalf("got %d, %v; want the 429 passed through", code, err)
			}
			tr.Close() // waits for the hold
			st, err := l.Status(context.Background(), "k", lim)
			if err != nil {
				t.Fatal(err)
			}
			if st.NextAfter != tt.want {
				t.Errorf("after a 429 with Retry-After %q the next token comes in %s, want %s", tt.retryAfter, st.NextAfter, tt.want)
			}
		})
	}
}

// closeCounter records whether a request body was closed.
type closeCounter struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeCounter) Close() error { c.closed.Store(true); return nil }

func TestTransportClosesBodyOnLimiterError(t *testing.T) {
	_, l := newFake()
	l.Close()
	tr := &limiter.Transport{Limiter: l, Limit: limiter.PerSecond(1)}
	body := &closeCounter{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", body)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("RoundTrip on a closed limiter: %v", err)
	}
	if !body.closed.Load() {
		t.Fatalf("request body not closed after a limiter error")
	}
}

func TestTransportMisconfigured(t *testing.T) {
	_, l := newFake()
	defer l.Close()
	for _, tr := range []*limiter.Transport{
		{Limit: limiter.PerSecond(1)},
		{Limiter: l, Limit: limiter.Limit{Rate: 1, Period: time.Second}},
	} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		_, err := tr.RoundTrip(req)
		if !errors.Is(err, limiter.ErrInvalidArgument) && !errors.Is(err, limiter.ErrInvalidLimit) {
			t.Errorf("misconfigured Transport %+v: %v", tr, err)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	for _, err := range []error{limiter.ErrClosed, &limiter.DeadlineError{}, &limiter.UnavailableError{Op: "x", Err: io.EOF},
		fmt.Errorf("wrapped: %w", &limiter.ExceedsBurstError{N: 2, Limit: limiter.PerSecond(1)})} {
		if !limiter.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = false", err)
		}
	}
	for _, err := range []error{io.EOF, context.Canceled, errors.New("connection reset")} {
		if limiter.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true", err)
		}
	}
}

func TestWaitNilLimiter(t *testing.T) {
	err := limiter.Wait(context.Background(), nil, "k", limiter.PerSecond(1), 1)
	if !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Fatalf("Wait on a nil Limiter: %v", err)
	}
}

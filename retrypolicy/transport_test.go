package retrypolicy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

// The whole default sequence, without sleeping: 6 attempts, sleeps of
// 0, 1, 2, 4 and 8 s between them, then an error.
func TestDelaySequence(t *testing.T) {
	srv := newTestServer(t, reply{status: 503, body: "busy"})
	var sl sleeps
	_, err := newClient(t, srv.Client().Transport, quiet(&sl)).Get(srv.URL)
	var rerr *Error
	if !errors.As(err, &rerr) {
		t.Fatalf("error %v, want an *Error", err)
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if got := sl.got(); !slices.Equal(got, want) {
		t.Errorf("sleeps %v, want %v", got, want)
	}
	if srv.hits() != 6 || rerr.Attempts != 6 {
		t.Errorf("server saw %d requests, error says %d attempts; want 6", srv.hits(), rerr.Attempts)
	}
}

func TestRetryAfterReplacesBackoff(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		status int
		header string
		want   time.Duration // the second sleep; the backoff there is 1s
	}{
		{"seconds on 503", nil, 503, "3", 3 * time.Second},
		{"seconds on 429", nil, 429, "7", 7 * time.Second},
		{"date", nil, 503, date(30 * time.Second), 30 * time.Second},
		{"date in the past", nil, 503, date(-time.Minute), time.Second},
		{"zero", nil, 503, "0", time.Second},
		{"malformed", nil, 503, "tomorrow", time.Second},
		{"capped", nil, 503, "3600", 120 * time.Second},
		{"10^30 seconds: capped", nil, 429, "1000000000000000000000000000000", 120 * time.Second},
		{"capped date", func(c *Config) { c.MaxRetryAfter = time.Minute }, 429, date(time.Hour), time.Minute},
		{"not a Retry-After status", nil, 500, "3", time.Second},
		{"Retry-After ignored", func(c *Config) { c.RetryAfterStatuses = []int{} }, 503, "3", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t,
				reply{status: 503},
				reply{status: tc.status, header: map[string]string{"Retry-After": tc.header}},
				reply{status: 200, body: "ok"},
			)
			var sl sleeps
			cfg := quiet(&sl)
			cfg.Now = func() time.Time { return now }
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			resp, err := newClient(t, srv.Client().Transport, cfg).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := sl.got(); !slices.Equal(got, []time.Duration{0, tc.want}) {
				t.Errorf("sleeps %v, want [0s %v]", got, tc.want)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		method    string
		cfg       func(*Config)
		wantHits  int
		wantFinal int // status the caller sees, 0 for an error
	}{
		{"POST", nil, 1, 503},
		{"PATCH", nil, 1, 503},
		{"POST", func(c *Config) { c.RetryPOST = true }, 6, 0},
		{"PUT", nil, 6, 0},
		{"DELETE", nil, 6, 0},
		{"GET", func(c *Config) { c.Methods = []string{"PATCH"} }, 1, 503},
		{"PATCH", func(c *Config) { c.Methods = []string{"PATCH"} }, 6, 0},
	} {
		srv := newTestServer(t, reply{status: 503, body: "busy"})
		var sl sleeps
		cfg := quiet(&sl)
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		req, err := http.NewRequest(tc.method, srv.URL, strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := newClient(t, srv.Client().Transport, cfg).Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if srv.hits() != tc.wantHits || status != tc.wantFinal {
			t.Errorf("%s: %d requests, status %d, err %v; want %d requests, status %d",
				tc.method, srv.hits(), status, err, tc.wantHits, tc.wantFinal)
		}
		for i, b := range srv.received() {
			if string(b) != "payload" {
				t.Errorf("%s: attempt %d sent %q", tc.method, i+1, b)
			}
		}
	}
}

// onlyReader hides every method but Read, so that http.NewRequest cannot
// set GetBody and the transport must buffer the body.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodiesReplayed(t *testing.T) {
	payload := make([]byte, 100_000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		body func() io.Reader
	}{
		{"GetBody", func() io.Reader { return bytes.NewReader(payload) }},
		{"buffered", func() io.Reader { return onlyReader{bytes.NewReader(payload)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, reply{status: 502}, reply{status: 500}, reply{status: 200})
			var sl sleeps
			req, err := http.NewRequest(http.MethodPut, srv.URL, tc.body())
			if err != nil {
				t.Fatal(err)
			}
			if (req.GetBody != nil) != (tc.name == "GetBody") {
				t.Fatalf("GetBody set: %v", req.GetBody != nil)
			}
			resp, err := newClient(t, srv.Client().Transport, quiet(&sl)).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := srv.received()
			if len(got) != 3 {
				t.Fatalf("%d attempts, want 3", len(got))
			}
			for i, b := range got {
				if !bytes.Equal(b, payload) {
					t.Errorf("attempt %d sent %d bytes, not the payload", i+1, len(b))
				}
			}
		})
	}
}

func TestGetBodyFailureNotRetried(t *testing.T) {
	srv := newTestServer(t, reply{status: 503})
	var sl sleeps
	req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("body gone")
	req.GetBody = func() (io.ReadCloser, error) { return nil, broken }
	_, err = newClient(t, srv.Client().Transport, quiet(&sl)).Do(req)
	if !errors.Is(err, broken) || srv.hits() != 1 {
		t.Errorf("error %v after %d requests, want %v after 1", err, srv.hits(), broken)
	}
}

func TestPermanentErrorsNotRetried(t *testing.T) {
	inner := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("limiter: %w", errPermanent)
	})
	c := &testutil.BodyCounter{Next: inner}
	var sl sleeps
	cfg := quiet(&sl)
	cfg.Permanent = func(err error) bool { return errors.Is(err, errPermanent) }
	_, err := newClient(t, c, cfg).Get("http://example.invalid/")
	var rerr *Error
	if !errors.Is(err, errPermanent) || errors.As(err, &rerr) {
		t.Errorf("error %v, want the permanent error as it is", err)
	}
	if n := c.Attempts.Load(); n != 1 || len(sl.got()) != 0 {
		t.Errorf("%d attempts, %d sleeps; want 1, 0", n, len(sl.got()))
	}
}

func TestConnectionErrorsRetried(t *testing.T) {
	srv := newTestServer(t, reply{status: 200, body: "ok"})
	faults := []error{
		io.ErrUnexpectedEOF,
		fmt.Errorf("read: %w", syscall.ECONNRESET),
		timeoutError{},
		context.DeadlineExceeded, // an inner timeout; the request's context is alive
	}
	var n int
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if n < len(faults) {
			n++
			return nil, faults[n-1]
		}
		return srv.Client().Transport.RoundTrip(r)
	})
	var sl sleeps
	resp, err := newClient(t, inner, quiet(&sl)).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n != len(faults) || len(sl.got()) != len(faults) {
		t.Errorf("%d faults, %d sleeps; want %d retries", n, len(sl.got()), len(faults))
	}
}

func TestContextEndNotRetried(t *testing.T) {
	t.Run("canceled error", func(t *testing.T) {
		c := &testutil.BodyCounter{Next: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("dial: %w", context.Canceled)
		})}
		var sl sleeps
		_, err := newClient(t, c, quiet(&sl)).Get("http://example.invalid/")
		if !errors.Is(err, context.Canceled) || c.Attempts.Load() != 1 {
			t.Errorf("error %v after %d attempts, want context.Canceled after 1", err, c.Attempts.Load())
		}
	})
	t.Run("end of the request's context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		c := &testutil.BodyCounter{Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			cancel() // as if the deadline passed during the attempt
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
		var sl sleeps
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.invalid/", nil)
		_, err := newClient(t, c, quiet(&sl)).Do(req)
		if !errors.Is(err, context.Canceled) || c.Attempts.Load() != 1 || len(sl.got()) != 0 {
			t.Errorf("error %v after %d attempts and %d sleeps, want the context's after 1 and none",
				err, c.Attempts.Load(), len(sl.got()))
		}
	})
	t.Run("response after the end", func(t *testing.T) {
		srv := newTestServer(t, reply{status: 200, body: "late"})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c := &testutil.BodyCounter{Next: srv.Client().Transport}
		inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := c.RoundTrip(r)
			cancel()
			return resp, err
		})
		var sl sleeps
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		_, err := newClient(t, inner, quiet(&sl)).Do(req)
		if !errors.Is(err, context.Canceled) || c.Open.Load() != 0 {
			t.Errorf("error %v with %d bodies open, want context.Canceled and none", err, c.Open.Load())
		}
	})
}

// A cancel during a backoff ends the call at once, with the production
// sleeper and a Retry-After of an hour.
func TestCancelDuringBackoff(t *testing.T) {
	srv := newTestServer(t, reply{status: 503, header: map[string]string{"Retry-After": "3600"}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sleeping := make(chan time.Duration, 1)
	cfg := Config{
		MaxRetryAfter: 2 * time.Hour,
		Logger:        slog.New(slog.DiscardHandler),
		OnRetry:       func(ev RetryEvent) { sleeping <- ev.Delay },
	}
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	client := newClient(t, c, cfg)
	go func() {
		if d := <-sleeping; d != time.Hour {
			t.Errorf("delay %v, want 1h", d)
		}
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	_, err := client.Do(req) // hangs for an hour if the sleep ignores the cancel
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if srv.hits() != 1 || c.Open.Load() != 0 {
		t.Errorf("%d requests, %d bodies open; want 1, 0", srv.hits(), c.Open.Load())
	}
}

// Every retried body is drained and closed, so its connection is reused;
// the one body handed to the caller stays open until the caller closes it.
func TestRetriedBodiesClosed(t *testing.T) {
	srv := newTestServer(t,
		reply{status: 503, body: "busy 1"},
		reply{status: 502, body: "busy 2"},
		reply{status: 429, body: "slow down"},
		reply{status: 200, body: "ok"},
	)
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	var sl sleeps
	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
	resp, err := newClient(t, c, quiet(&sl)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Opened.Load() != 4 || c.Open.Load() != 1 {
		t.Errorf("%d bodies, %d open; want 4, 1 (the caller's)", c.Opened.Load(), c.Open.Load())
	}
	resp.Body.Close()
	if c.Open.Load() != 0 {
		t.Errorf("%d bodies open after the caller closed its own", c.Open.Load())
	}
	if !slices.Equal(reused, []bool{false, true, true, true}) {
		t.Errorf("connection reused per attempt: %v, want one connection for all", reused)
	}
}

// A huge error page is not read to its end: at most maxDrain of it.
func TestDrainBounded(t *testing.T) {
	huge := strings.Repeat("x", 4<<20)
	srv := newTestServer(t, reply{status: 500, body: huge}, reply{status: 200})
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	var sl sleeps
	resp, err := newClient(t, c, quiet(&sl)).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if read := c.Read.Load(); read > maxDrain {
		t.Errorf("read %d bytes of the retried body, want at most %d", read, maxDrain)
	}
	if c.Open.Load() != 0 {
		t.Errorf("%d bodies open", c.Open.Load())
	}
}

func TestNoRetries(t *testing.T) {
	srv := newTestServer(t, reply{status: 503})
	var sl sleeps
	cfg := quiet(&sl)
	cfg.Retries = NoRetries
	_, err := newClient(t, srv.Client().Transport, cfg).Get(srv.URL)
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Attempts != 1 || srv.hits() != 1 || len(sl.got()) != 0 {
		t.Errorf("error %v after %d requests, want an *Error after 1", err, srv.hits())
	}
}

func TestNonRetriedStatusReturned(t *testing.T) {
	srv := newTestServer(t, reply{status: 404, body: "no such thing"})
	var sl sleeps
	resp, err := newClient(t, srv.Client().Transport, quiet(&sl)).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(body) != "no such thing" || srv.hits() != 1 {
		t.Errorf("got %d %q after %d requests", resp.StatusCode, body, srv.hits())
	}
}

// One transport serves many goroutines at once; each call has its own
// attempts, body and sleeps.
func TestConcurrentCalls(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.URL.Path]++
		n := seen[r.URL.Path]
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var sl sleeps
	client := newClient(t, srv.Client().Transport, quiet(&sl))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			want := fmt.Sprintf("body %d", i)
			req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/%d", srv.URL, i), strings.NewReader(want))
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(got) != want {
				t.Errorf("call %d: %d %q", i, resp.StatusCode, got)
			}
		})
	}
	wg.Wait()
	if n := len(sl.got()); n != 40 {
		t.Errorf("%d sleeps, want 2 per call", n)
	}
}

package retrypolicy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// TestZeroConfigLimiterErrorsPermanent: with a zero Config (no
// Permanent), a limiter error is returned after one attempt, without a
// sleep (issue 13: "limiter: closed" was retried 5 times over 15 s).
func TestZeroConfigLimiterErrorsPermanent(t *testing.T) {
	for _, lerr := range []error{
		limiter.ErrClosed,
		&limiter.UnavailableError{Op: "redis AllowN", Err: errors.New("dial tcp: refused")},
		&limiter.DeadlineError{Key: "k", N: 1, Needed: time.Hour, Left: time.Second},
		fmt.Errorf("limiter: cost: %w", limiter.ErrInvalidArgument),
		&limiter.ExceedsBurstError{Key: "k", N: 9, Limit: limiter.PerSecond(1)},
	} {
		t.Run(lerr.Error(), func(t *testing.T) {
			var attempts atomic.Int32
			sl := &sleeps{}
			c := newClient(t, roundTripFunc(func(*http.Request) (*http.Response, error) {
				attempts.Add(1)
				return nil, lerr
			}), quiet(sl))
			_, err := c.Get("http://127.0.0.1:1/x")
			if !errors.Is(err, lerr) {
				t.Fatalf("error %v, want the limiter's %v as it is", err, lerr)
			}
			if n := attempts.Load(); n != 1 || len(sl.got()) != 0 {
				t.Fatalf("%d attempts, sleeps %v: want 1 attempt and no sleep", n, sl.got())
			}
		})
	}
}

// TestRequestContextEndNotRetried: an attempt cut by the end of the
// request's own deadline, whatever error it returns (a timeout, a refused
// connection), is not retried.
func TestRequestContextEndNotRetried(t *testing.T) {
	var attempts atomic.Int32
	sl := &sleeps{}
	c := newClient(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		<-r.Context().Done()
		return nil, errors.New("read tcp 127.0.0.1:1: i/o timeout")
	}), quiet(sl))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/x", nil)
	_, err := c.Do(req)
	if err == nil {
		t.Fatal("no error from an attempt cut by the request's deadline")
	}
	if n := attempts.Load(); n != 1 || len(sl.got()) != 0 {
		t.Fatalf("%d attempts, sleeps %v: want 1 attempt and no sleep", n, sl.got())
	}
}

// TestEmptyMethodIsGET: a Request with Method "" is sent as a GET by
// net/http, so it is retried as one.
func TestEmptyMethodIsGET(t *testing.T) {
	srv := newTestServer(t, reply{status: 503}, reply{status: 200})
	sl := &sleeps{}
	rt, err := NewTransport(nil, quiet(sl))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Method = ""
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || srv.hits() != 2 {
		t.Fatalf("status %d after %d attempts: want 200 after a retry", resp.StatusCode, srv.hits())
	}
}

package retrypolicy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/trickle"
)

// trickler answers its first request with a 503 whose body never ends, a
// byte at a time, and the others with a 200.
func trickler(t *testing.T) *httptest.Server {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 1 {
			w.WriteHeader(200)
			return
		}
		trickle.Endless(w, r, 503)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndlessBodyDoesNotHoldRetry: a retried response whose body trickles
// forever is abandoned after drainTimeout, not read for its 64 KiB (an
// hour at 20 bytes a second) before the retry.
func TestEndlessBodyDoesNotHoldRetry(t *testing.T) {
	srv := trickler(t)
	sl := &sleeps{}
	rt, err := NewTransport(nil, quiet(sl))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("status %d, want the retry's 200", code)
		}
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the retry waited for a body that never ends")
	}
}

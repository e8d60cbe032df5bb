package limiter_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// stepHold is a Limiter whose every Hold hands the test a channel and
// returns when the test closes it (or its context ends), without holding
// the key, so that what follows a landed hold is not slowed by it.
type stepHold struct {
	limiter.Limiter
	calls chan chan struct{}
}

func (s *stepHold) Hold(ctx context.Context, _ string, _ limiter.Limit, _ time.Duration) error {
	rel := make(chan struct{})
	s.calls <- rel
	select {
	case <-rel:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestTransportWaiterWaitsThroughMergedHold: a 429 that arrives while the
// first Hold is in flight is merged into a second one; a request made
// meanwhile waits for that second Hold too, not only the first.
func TestTransportWaiterWaitsThroughMergedHold(t *testing.T) {
	lim := &stepHold{Limiter: memory.New(), calls: make(chan chan struct{}, 4)}
	defer lim.Limiter.Close()
	gate := make(chan struct{})
	var gated, plain atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("gate") != "":
			gated.Add(1)
			<-gate
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(429)
		case r.URL.Query().Get("ra") != "":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
		default:
			plain.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	tr := &limiter.Transport{Limiter: lim, Limit: limiter.PerSecond(100), Key: func(*http.Request) string { return "k" }}
	defer tr.Close()
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"?gate=1", nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); gated.Load() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(gate)
			t.Fatal("the gated request never reached the server")
		}
	}
	want429(t, context.Background(), tr, srv.URL+"?ra=2")
	rel1 := <-lim.calls
	close(gate)
	<-aDone // its 429 is merged into the next Hold
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cDone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		cDone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(rel1)
	var rel2 chan struct{}
	select {
	case rel2 = <-lim.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no second (merged) Hold")
	}
	time.Sleep(20 * time.Millisecond)
	if n := plain.Load(); n != 0 {
		close(rel2)
		t.Fatalf("the request was sent during the merged Hold (%d sent)", n)
	}
	close(rel2)
	if err := <-cDone; err != nil {
		t.Fatalf("request after the holds: %v", err)
	}
	if n := plain.Load(); n != 1 {
		t.Fatalf("%d requests sent, want 1", n)
	}
}

// TestTransportHoldWaitsUnderLoad: requests on three keys, a third of
// them answered 429, run at once under -race; every RoundTrip returns,
// Close returns, and no goroutine is left.
func TestTransportHoldWaitsUnderLoad(t *testing.T) {
	url, base, lim := loadRig(t)
	tr := &limiter.Transport{Base: base, Limiter: lim, Limit: limiter.Limit{Rate: 100000, Period: time.Second, Burst: 1000},
		Key: func(r *http.Request) string { return r.URL.Query().Get("k") }, HoldTimeout: time.Second}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sendAll(t, tr, base, 300, func(i int) string {
		s := "200"
		if rand.IntN(3) == 0 {
			s = "429"
		}
		return fmt.Sprintf("%s?k=k%d&s=%s", url, i%3, s)
	})
}

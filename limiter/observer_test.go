package limiter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// observed is a Handle on an in-process store reporting to obs.
func observed(t *testing.T, obs limiter.Observer) *limiter.Handle {
	t.Helper()
	g, err := limiter.NewHandle(newFakeStore(nil), limiter.Policy{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// TestWaitReports: Wait on an observed Limiter reports an admission at
// once, a wait and its admission after a sleep, and a refusal when the
// slot comes after the deadline; the Handle itself reports AllowN and
// direct ReserveN, but not the ReserveN under Wait (no double count).
func TestWaitReports(t *testing.T) {
	rec := &recorder{}
	g := observed(t, rec)
	ctx := context.Background()
	l := limiter.Limit{Rate: 20, Period: time.Second, Burst: 1}
	if err := limiter.Wait(ctx, g, "k", l, 1); err != nil {
		t.Fatal(err)
	}
	if err := limiter.Wait(ctx, g, "k", l, 1); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := limiter.Wait(short, g, "k", l, 1); !errors.Is(err, limiter.ErrSlotTooLate) {
		t.Fatalf("Wait with a short deadline: %v", err)
	}
	if _, err := g.AllowN(ctx, "k", l, 1); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range rec.events {
		kinds = append(kinds, e.Op+":"+e.Kind.String())
		if e.Kind == limiter.EventWaited && (e.Duration <= 0 || e.Duration > 50*time.Millisecond) {
			t.Errorf("waited %s, want the slot's delay (up to 50 ms)", e.Duration)
		}
	}
	want := "Wait:admitted Wait:waited Wait:admitted Wait:refused AllowN:refused"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestTransportReports: a Transport reports its admissions and the hold
// of a 429 to its Observer.
func TestTransportReports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	rec := &recorder{}
	m := memory.New()
	defer m.Close()
	tr := &limiter.Transport{Limiter: m, Limit: limiter.PerSecond(1000), Observer: rec}
	c := &http.Client{Transport: tr}
	for _, p := range []string{"/", "/slow"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tr.Close() // the hold runs after the 429 came back
	if a, h := rec.count(limiter.EventAdmitted), rec.count(limiter.EventHeld); a != 2 || h != 1 {
		t.Errorf("admitted %d, held %d: want 2 and 1", a, h)
	}
	for _, e := range rec.events {
		if e.Kind == limiter.EventHeld && e.Duration != time.Second {
			t.Errorf("held %s, want the Retry-After 1s", e.Duration)
		}
	}
}

func TestSlogObserver(t *testing.T) {
	var b testutil.LogBuffer
	o := limiter.SlogObserver(b.Logger())
	ctx := context.Background()
	o.Observe(ctx, limiter.Event{Kind: limiter.EventAdmitted, Key: "k", N: 1, Limit: limiter.PerSecond(2)})
	o.Observe(ctx, limiter.Event{Kind: limiter.EventHeld, Key: "k", N: 1, Limit: limiter.PerSecond(2), Duration: time.Second})
	o.Observe(ctx, limiter.Event{Kind: limiter.EventStoreError, Op: "AllowN", Err: errors.New("refused")})
	o.Observe(ctx, limiter.Event{Kind: limiter.EventPolicySwitch, From: "store", To: "open"})
	out := b.String()
	// The text handler logs from Info up: the admission (Debug) is not
	// there.
	for _, want := range []string{"level=INFO msg=\"limiter: held\"", "duration=1s", "level=WARN msg=\"limiter: store-error\"",
		"error=refused", "from=store to=open"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "admitted") {
		t.Errorf("a Debug event logged at Info:\n%s", out)
	}
}

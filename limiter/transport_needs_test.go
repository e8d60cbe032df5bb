package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// Two limits of a Lighter-like rule: requests per host, and weight.
var (
	trHostLimit   = limiter.Limit{Rate: 60, Period: time.Minute, Burst: 2}           // one a second
	trWeightLimit = limiter.Limit{Rate: 1000, Period: 10 * time.Second, Burst: 1000} // one per 10 ms
)

// hostAndWeight is a Needs function of two needs: one token of the host's
// key under trHostLimit, and the request's X-Weight header of "weight" under
// trWeightLimit; a 429 holds the keys of the X-Hold header (comma
// separated), every need's key without it.
func hostAndWeight(req *http.Request) (limiter.Charge, error) {
	w, err := strconv.Atoi(req.Header.Get("X-Weight"))
	if err != nil {
		return limiter.Charge{}, fmt.Errorf("no weight: %w", err)
	}
	c := limiter.Charge{Needs: []limiter.Need{
		{Key: limiter.HostKey(req), Limit: trHostLimit, N: 1},
		{Key: "weight", Limit: trWeightLimit, N: w},
	}}
	if h := req.Header.Get("X-Hold"); h != "" {
		c.Hold = strings.Split(h, ",")
	}
	return c, nil
}

// weighted round-trips a GET of url with the X-Weight header weight and
// X-Hold hold (when not empty) on tr, within timeout.
func weighted(tr http.RoundTripper, url string, weight int, hold string, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("X-Weight", strconv.Itoa(weight))
	if hold != "" {
		req.Header.Set("X-Hold", hold)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// trStatus is the Remaining and NextAfter of key under limit.
func trStatus(t *testing.T, l limiter.Limiter, key string, limit limiter.Limit) (int, time.Duration) {
	t.Helper()
	st, err := l.Status(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Status(%q): %v", key, err)
	}
	return st.Remaining, st.NextAfter
}

// TestTransportNeedsChargesEveryKey: a request of two needs takes from
// both keys at once; when either lacks tokens, that one (the binding
// need) delays the request, and nothing is taken from the other.
func TestTransportNeedsChargesEveryKey(t *testing.T) {
	_, l := newFake() // the clock stands still: no token comes back
	defer l.Close()
	srv, hits := server(t, 200, nil)
	host := "host:" + strings.TrimPrefix(srv.URL, "http://")
	tr := &limiter.Transport{Limiter: l, Needs: hostAndWeight}
	defer tr.Close()

	if _, err := weighted(tr, srv.URL, 600, "", time.Second); err != nil {
		t.Fatal(err)
	}
	if r, _ := trStatus(t, l, host, trHostLimit); r != 1 {
		t.Errorf("host key: %d left after one request, want 1 (burst 2)", r)
	}
	if r, _ := trStatus(t, l, "weight", trWeightLimit); r != 400 {
		t.Errorf("weight key: %d left after a weight of 600, want 400", r)
	}

	// 600 more weight is 200 tokens short: 2 s away, past the deadline.
	_, err := weighted(tr, srv.URL, 600, "", 500*time.Millisecond)
	var de *limiter.DeadlineError
	if !errors.As(err, &de) || de.Key != "weight" || de.Needed != 2*time.Second {
		t.Fatalf("request short of weight: %v; want a DeadlineError of key \"weight\", 2s away", err)
	}
	if r, _ := trStatus(t, l, host, trHostLimit); r != 1 {
		t.Errorf("host key: %d left after a refused request, want 1: nothing taken", r)
	}

	if _, err := weighted(tr, srv.URL, 100, "", time.Second); err != nil {
		t.Fatal(err)
	}
	if r, _ := trStatus(t, l, "weight", trWeightLimit); r != 300 {
		t.Errorf("weight key: %d left, want 300", r)
	}
	// The host's burst is spent: its next token is 1 s away.
	_, err = weighted(tr, srv.URL, 1, "", 500*time.Millisecond)
	if !errors.As(err, &de) || de.Key != host || de.Needed != time.Second {
		t.Fatalf("request short of host tokens: %v; want a DeadlineError of key %q, 1s away", err, host)
	}
	if r, _ := trStatus(t, l, "weight", trWeightLimit); r != 300 {
		t.Errorf("weight key: %d left after a refused request, want 300: nothing taken", r)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

// TestTransportNeeds429Holds: a 429 holds every need's key, each for the
// Retry-After (or one Period of its own Limit without one), unless the
// Charge's Hold names which.
func TestTransportNeeds429Holds(t *testing.T) {
	for _, tc := range []struct {
		name, retryAfter, hold string
		wantHost, wantWeight   time.Duration
	}{
		{"every key", "7", "", 7 * time.Second, 7 * time.Second},
		{"every key, no Retry-After: its own Period", "", "", trHostLimit.Period, trWeightLimit.Period},
		{"only the named key", "7", "weight", 0, 7 * time.Second},
		{"both named", "7", "weight,HOST", 7 * time.Second, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, l := newFake()
			defer l.Close()
			srv := tooMany(t, tc.retryAfter)
			host := "host:" + strings.TrimPrefix(srv.URL, "http://")
			rec := &recorder{}
			tr := &limiter.Transport{Limiter: l, Needs: hostAndWeight, Observer: rec}
			resp, err := weighted(tr, srv.URL, 10, strings.ReplaceAll(tc.hold, "HOST", host), time.Second)
			if err != nil || resp.StatusCode != 429 {
				t.Fatalf("got %v, %v; want the 429 passed through", resp, err)
			}
			tr.Close() // waits for the holds
			if _, next := trStatus(t, l, host, trHostLimit); next != tc.wantHost {
				t.Errorf("host key: next token in %s, want %s", next, tc.wantHost)
			}
			if _, next := trStatus(t, l, "weight", trWeightLimit); next != tc.wantWeight {
				t.Errorf("weight key: next token in %s, want %s", next, tc.wantWeight)
			}
			held := map[string]time.Duration{}
			rec.mu.Lock()
			for _, e := range rec.events {
				if e.Kind == limiter.EventHeld {
					held[e.Key] = e.Duration
				}
			}
			rec.mu.Unlock()
			want := map[string]time.Duration{}
			if tc.wantHost > 0 {
				want[host] = tc.wantHost
			}
			want["weight"] = tc.wantWeight
			if fmt.Sprint(held) != fmt.Sprint(want) {
				t.Errorf("held events %v, want %v", held, want)
			}
		})
	}
}

// TestTransportNeedsWaitForHeldKey: a request that needs a key whose hold
// after a 429 is on its way to the store waits for it, even when that key
// is not its first need; a request needing only keys the 429 did not hold
// goes at once.
func TestTransportNeedsWaitForHeldKey(t *testing.T) {
	lim := newSlowHold()
	defer lim.Limiter.Close()
	var sent sync.Map // keys of the requests the server saw -> count
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := sent.LoadOrStore(r.URL.Query().Get("k"), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if r.URL.Query().Get("s") == "429" {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
		}
	}))
	t.Cleanup(srv.Close)
	count := func(k string) int64 {
		if n, ok := sent.Load(k); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	lim1 := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10}
	tr := &limiter.Transport{Limiter: lim, Needs: func(r *http.Request) (limiter.Charge, error) {
		var c limiter.Charge
		for _, k := range strings.Split(r.URL.Query().Get("k"), ",") {
			c.Needs = append(c.Needs, limiter.Need{Key: k, Limit: lim1, N: 1})
		}
		if h := r.URL.Query().Get("hold"); h != "" {
			c.Hold = []string{h}
		}
		return c, nil
	}}
	defer tr.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(lim.release)
		}
	}
	defer release()

	want429(t, context.Background(), tr, srv.URL+"?k=a,w&hold=w&s=429")
	<-lim.started // the hold of w runs, blocked
	if resp, err := roundTrip(t, context.Background(), tr, srv.URL+"?k=a", 5*time.Second); err != nil {
		t.Fatalf("request on a key the 429 did not hold: %v", err)
	} else {
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := roundTrip(t, ctx, tr, srv.URL+"?k=x,w", 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"w"`) {
		t.Fatalf("request needing the held key w during its hold: %v, want its deadline, naming w", err)
	}
	if n := count("x,w"); n != 0 {
		t.Fatalf("the request needing w was sent during its hold (%d sent)", n)
	}
	release()
	// Once the hold has landed, its 2 s are the binding need's wait.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = roundTrip(t, ctx, tr, srv.URL+"?k=x,w", 5*time.Second)
	var de *limiter.DeadlineError
	if !errors.As(err, &de) || de.Key != "w" || de.Needed < time.Second {
		t.Fatalf("request needing w after its hold landed: %v, want a DeadlineError of key w about 2 s away", err)
	}
	tr.Close()
	if _, next := trStatus(t, lim, "w", lim1); next < time.Second {
		t.Errorf("w: next token in %s, want it held for the Retry-After (2 s)", next)
	}
	if _, next := trStatus(t, lim, "a", lim1); next > 0 {
		t.Errorf("a: next token in %s, want it not held", next)
	}
}

// storeCalls is a Limiter counting the calls that reach the store.
type storeCalls struct {
	limiter.Limiter
	reserveN, reserve, other atomic.Int64
}

func (s *storeCalls) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	s.reserveN.Add(1)
	return s.Limiter.ReserveN(ctx, key, limit, n, maxWait)
}

func (s *storeCalls) Reserve(ctx context.Context, maxWait time.Duration, needs ...limiter.Need) (*limiter.Reservation, error) {
	s.reserve.Add(1)
	return s.Limiter.Reserve(ctx, maxWait, needs...)
}

func (s *storeCalls) AllowN(ctx context.Context, key string, limit limiter.Limit, n int) (limiter.Result, error) {
	s.other.Add(1)
	return s.Limiter.AllowN(ctx, key, limit, n)
}

func (s *storeCalls) Allow(ctx context.Context, needs ...limiter.Need) (limiter.Result, error) {
	s.other.Add(1)
	return s.Limiter.Allow(ctx, needs...)
}

func (s *storeCalls) Hold(ctx context.Context, key string, limit limiter.Limit, d time.Duration) error {
	s.other.Add(1)
	return s.Limiter.Hold(ctx, key, limit, d)
}

func (s *storeCalls) total() int64 { return s.reserveN.Load() + s.reserve.Load() + s.other.Load() }

// TestTransportNeedsErrorStopsRequest: an error of the Needs function, a
// Charge the Limiter would refuse, or Needs set beside Key, Cost or Limit
// stops the request before any store call: the body is closed, nothing is
// sent, and the error names the request (its credentials masked) and
// what is wrong.
func TestTransportNeedsErrorStopsRequest(t *testing.T) {
	errNoWeight := errors.New("no weight known")
	one := func(needs ...limiter.Need) func(*http.Request) (limiter.Charge, error) {
		return func(*http.Request) (limiter.Charge, error) { return limiter.Charge{Needs: needs}, nil }
	}
	a := limiter.Need{Key: "a", Limit: trHostLimit, N: 1}
	for _, tc := range []struct {
		name   string
		tr     *limiter.Transport
		target error
		says   string // in the error, besides the request
	}{
		{"Needs error", &limiter.Transport{Needs: func(*http.Request) (limiter.Charge, error) { return limiter.Charge{}, errNoWeight }},
			errNoWeight, "no weight known"},
		{"no need", &limiter.Transport{Needs: one()}, limiter.ErrInvalidArgument, "at least one Need"},
		{"a key twice", &limiter.Transport{Needs: one(a, a)}, limiter.ErrInvalidArgument, `key "a" is named twice`},
		{"N above the burst", &limiter.Transport{Needs: one(a, limiter.Need{Key: "weight", Limit: trWeightLimit, N: 1001})},
			limiter.ErrExceedsBurst, `n=1001 exceeds burst 1000 of 1000/10s (burst 1000) for key "weight" (need 1 of 2)`},
		{"N zero", &limiter.Transport{Needs: one(a, limiter.Need{Key: "weight", Limit: trWeightLimit})},
			limiter.ErrInvalidArgument, `n must be >= 1, got 0 (key "weight" (need 1 of 2))`},
		{"invalid limit", &limiter.Transport{Needs: one(a, limiter.Need{Key: "b", N: 1})}, limiter.ErrInvalidLimit, `need 1 of 2 (key "b")`},
		{"Hold names a key no need has", &limiter.Transport{Needs: func(*http.Request) (limiter.Charge, error) {
			return limiter.Charge{Needs: []limiter.Need{a}, Hold: []string{"a", "b"}}, nil
		}}, limiter.ErrInvalidArgument, `Charge.Hold names key "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkStopped(t, tc.tr, tc.target, true, tc.says)
		})
	}
	for _, tc := range []struct {
		field string
		tr    *limiter.Transport
	}{
		{"Key", &limiter.Transport{Key: limiter.HostKey}},
		{"Cost", &limiter.Transport{Cost: func(*http.Request) (int, error) { return 1, nil }}},
		{"Limit", &limiter.Transport{Limit: trHostLimit}},
	} {
		t.Run("Needs and "+tc.field, func(t *testing.T) {
			tc.tr.Needs = one(a)
			checkStopped(t, tc.tr, limiter.ErrInvalidArgument, false, "Transport.Needs and Transport."+tc.field+" are both set")
		})
	}
}

// checkStopped round-trips a POST with a body through tr (its Limiter and
// Base filled in) and fails t unless it is stopped before the store and
// the server, with its body closed and an error matching target that
// holds says and, when named, the request (without its credentials).
func checkStopped(t *testing.T, tr *limiter.Transport, target error, named bool, says string) {
	t.Helper()
	srv, hits := server(t, 200, nil)
	l := &storeCalls{Limiter: memory.New()}
	defer l.Limiter.Close()
	tr.Limiter = l
	defer tr.Close()
	body := &closeCounter{Reader: strings.NewReader("x")}
	u := strings.Replace(srv.URL, "http://", "http://me:hunter22@", 1) + "/orders?token=tok3n-s3cret"
	req, _ := http.NewRequest(http.MethodPost, u, body)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip succeeded")
	}
	if !errors.Is(err, target) || !strings.Contains(err.Error(), says) {
		t.Errorf("error %q: want one matching %v saying %q", err, target, says)
	}
	if want := "@" + strings.TrimPrefix(srv.URL, "http://") + "/orders"; named &&
		(!strings.Contains(err.Error(), "POST http://") || !strings.Contains(err.Error(), want)) {
		t.Errorf("error %q does not name the request (POST http://...%s)", err, want)
	}
	for _, s := range []string{"hunter22", "tok3n-s3cret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows %q", err, s)
		}
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
	if n := l.total(); n != 0 {
		t.Errorf("%d store calls for a request stopped before the store", n)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
}

// TestTransportDefaultIsOneNeed: without Needs a request is one need
// (HostKey, Limit, cost 1), sent as the one-need shorthand ReserveN, as
// before; a Needs of two sends one Reserve of both.
func TestTransportDefaultIsOneNeed(t *testing.T) {
	srv, _ := server(t, 200, nil)
	l := &storeCalls{Limiter: memory.New()}
	defer l.Limiter.Close()
	tr := &limiter.Transport{Limiter: l, Limit: trHostLimit}
	if _, err := get(t, &http.Client{Transport: tr}, srv.URL); err != nil {
		t.Fatal(err)
	}
	if r, _ := trStatus(t, l, "host:"+strings.TrimPrefix(srv.URL, "http://"), trHostLimit); r != 1 {
		t.Errorf("host key: %d left, want 1", r)
	}
	if l.reserveN.Load() != 1 || l.reserve.Load() != 0 || l.other.Load() != 0 {
		t.Errorf("store calls: ReserveN %d, Reserve %d, other %d; want one ReserveN", l.reserveN.Load(), l.reserve.Load(), l.other.Load())
	}
	tr = &limiter.Transport{Limiter: l, Needs: hostAndWeight}
	if _, err := weighted(tr, srv.URL, 5, "", time.Second); err != nil {
		t.Fatal(err)
	}
	if l.reserveN.Load() != 1 || l.reserve.Load() != 1 || l.other.Load() != 0 {
		t.Errorf("store calls: ReserveN %d, Reserve %d, other %d; want one Reserve more", l.reserveN.Load(), l.reserve.Load(), l.other.Load())
	}
}

// TestTransportNeedsHoldsUnderLoad: requests of two overlapping keys out
// of three, a third of them answered 429 (holding one key or both), run at
// once under -race; every RoundTrip returns, Close returns, and no
// goroutine is left.
func TestTransportNeedsHoldsUnderLoad(t *testing.T) {
	url, base, lim := loadRig(t)
	big := limiter.Limit{Rate: 100000, Period: time.Second, Burst: 1000}
	tr := &limiter.Transport{Base: base, Limiter: lim, HoldTimeout: time.Second,
		Needs: func(r *http.Request) (limiter.Charge, error) {
			q := r.URL.Query()
			c := limiter.Charge{Needs: []limiter.Need{{Key: q.Get("k1"), Limit: big, N: 1}, {Key: q.Get("k2"), Limit: big, N: 2}}}
			if h := q.Get("hold"); h != "" {
				c.Hold = []string{h}
			}
			return c, nil
		}}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sendAll(t, tr, base, 150, func(i int) string {
		s, hold := "200", ""
		if rand.IntN(3) == 0 {
			s = "429"
		}
		if rand.IntN(2) == 0 {
			hold = fmt.Sprintf("k%d", i%3)
		}
		return fmt.Sprintf("%s?k1=k%d&k2=k%d&s=%s&hold=%s", url, i%3, (i+1)%3, s, hold)
	})
}

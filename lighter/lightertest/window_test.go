package lightertest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

var epoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// clock is a fake clock the tests move by hand, from epoch.
type clock struct{ *testutil.Clock }

func newClock() clock { return clock{testutil.NewClock(epoch)} }

// at sets the clock to epoch + ms milliseconds.
func (c clock) at(ms int) { c.Set(epoch.Add(time.Duration(ms) * time.Millisecond)) }

// get sends a GET for target to h without a network.
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// body decodes a JSON answer.
func body(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON: %v: %q", err, rec.Body.String())
	}
	return m
}

// step is one arrival: at ms, a GET for path, the status and Retry-After
// wanted ("" for none).
type step struct {
	at         int
	path       string
	wantStatus int
	wantRetry  string
}

func runSteps(t *testing.T, opts lightertest.Options, steps []step) *lightertest.Handler {
	t.Helper()
	c := newClock()
	opts.Now = c.Now
	h := lightertest.NewHandler(opts)
	for i, s := range steps {
		c.at(s.at)
		path := s.path
		if path == "" {
			path = lighter.PathSystemConfig
		}
		rec := get(h, path)
		if rec.Code != s.wantStatus {
			t.Fatalf("step %d (t=%dms %s): status %d, want %d", i, s.at, path, rec.Code, s.wantStatus)
		}
		if got := rec.Header().Get("Retry-After"); got != s.wantRetry {
			t.Fatalf("step %d (t=%dms): Retry-After %q, want %q", i, s.at, got, s.wantRetry)
		}
	}
	return h
}

func TestWindowLimit(t *testing.T) {
	// 2 per 1 s with the default 50 ms jitter: counted over (t-950ms, t].
	h := runSteps(t, lightertest.Options{Limit: 2}, []step{
		{at: 0, wantStatus: 200},
		{at: 0, wantStatus: 200},
		{at: 0, wantStatus: 429, wantRetry: "1"},
		{at: 949, wantStatus: 429, wantRetry: "1"},
		{at: 950, wantStatus: 200}, // both at 0 left the window at 950
		{at: 950, wantStatus: 200},
		{at: 1000, wantStatus: 429, wantRetry: "1"},
		{at: 1899, wantStatus: 429, wantRetry: "1"},
		{at: 1900, wantStatus: 200},
	})
	st := h.Stats()
	if st.Total != 9 || st.TooMany != 4 || st.ByPath[lighter.PathSystemConfig] != 9 {
		t.Fatalf("stats %+v, want 9 total, 4 too many", st)
	}
}

func TestWindowRefusedNotCounted(t *testing.T) {
	// A 429 does not occupy the window: hammering does not push the next
	// free slot back.
	runSteps(t, lightertest.Options{Limit: 1, Jitter: -1}, []step{
		{at: 0, wantStatus: 200},
		{at: 100, wantStatus: 429, wantRetry: "1"},
		{at: 500, wantStatus: 429, wantRetry: "1"},
		{at: 999, wantStatus: 429, wantRetry: "1"},
		{at: 1000, wantStatus: 200},
	})
}

func TestWindowJitter(t *testing.T) {
	// A client sending 2 per second at 0, 500, 1000 ms whose first request
	// was delayed 50 ms: arrivals 50, 500, 1000. The default jitter
	// forgives it; with no jitter allowance, the third is refused.
	arrivals := []int{50, 500, 1000, 1500, 2000}
	var forgiven, strict []step
	for _, at := range arrivals {
		forgiven = append(forgiven, step{at: at, wantStatus: 200})
		strict = append(strict, step{at: at, wantStatus: 200})
	}
	strict[2] = step{at: 1000, wantStatus: 429, wantRetry: "1"}
	strict = strict[:3]
	t.Run("default", func(t *testing.T) { runSteps(t, lightertest.Options{Limit: 2}, forgiven) })
	t.Run("none", func(t *testing.T) { runSteps(t, lightertest.Options{Limit: 2, Jitter: -1}, strict) })
	// Bunched more than the jitter: three within 949 ms is over the limit.
	t.Run("beyond", func(t *testing.T) {
		runSteps(t, lightertest.Options{Limit: 2}, []step{
			{at: 51, wantStatus: 200}, {at: 500, wantStatus: 200}, {at: 1000, wantStatus: 429, wantRetry: "1"},
		})
	})
	t.Run("custom", func(t *testing.T) {
		runSteps(t, lightertest.Options{Limit: 1, Window: 10 * time.Second, Jitter: 2 * time.Second}, []step{
			{at: 0, wantStatus: 200}, {at: 7999, wantStatus: 429, wantRetry: "1"}, {at: 8000, wantStatus: 200},
		})
	})
}

func TestWindowRetryAfter(t *testing.T) {
	// Retry-After is the time until the request fits, in whole seconds,
	// rounded up.
	runSteps(t, lightertest.Options{Limit: 1, Window: 10 * time.Second, Jitter: -1}, []step{
		{at: 0, wantStatus: 200},
		{at: 1, wantStatus: 429, wantRetry: "10"},
		{at: 5000, wantStatus: 429, wantRetry: "5"},
		{at: 8500, wantStatus: 429, wantRetry: "2"},
		{at: 9999, wantStatus: 429, wantRetry: "1"},
	})
	runSteps(t, lightertest.Options{Limit: 1, RetryAfter: 3 * time.Second}, []step{
		{at: 0, wantStatus: 200}, {at: 1, wantStatus: 429, wantRetry: "3"},
	})
	runSteps(t, lightertest.Options{Limit: 1, RetryAfter: -1}, []step{
		{at: 0, wantStatus: 200}, {at: 1, wantStatus: 429, wantRetry: ""},
	})
}

func TestWindowWeighted(t *testing.T) {
	weight := func(path string) int {
		switch {
		case strings.HasSuffix(path, "/trades"):
			return 600
		case strings.HasSuffix(path, "/tokens/create"):
			return 23000
		}
		return 300
	}
	h := runSteps(t, lightertest.Options{Limit: 1000, Window: time.Minute, Weight: weight}, []step{
		{at: 0, path: "/api/v1/trades", wantStatus: 400}, // counted, then refused: no sort_by
		{at: 10, path: lighter.PathAccount + "?by=index&value=1", wantStatus: 200},
		{at: 20, path: lighter.PathOrderBooks, wantStatus: 429, wantRetry: "60"},     // 900 + 300 > 1000
		{at: 59950, path: lighter.PathOrderBooks, wantStatus: 200},                   // the trades (600) left
		{at: 59960, path: "/api/v1/tokens/create", wantStatus: 429, wantRetry: "60"}, // can never fit
	})
	var weights []int
	for _, r := range h.Requests() {
		weights = append(weights, r.Weight)
	}
	if want := []int{600, 300, 300, 300, 23000}; !equal(weights, want) {
		t.Fatalf("weights %v, want %v", weights, want)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoLimit(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	for range 1000 {
		if rec := get(h, lighter.PathSystemConfig); rec.Code != 200 {
			t.Fatalf("status %d without a limit", rec.Code)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opts := range map[string]lightertest.Options{
		"negative limit":   {Limit: -1},
		"negative window":  {Window: -time.Second},
		"jitter >= window": {Limit: 1, Window: 50 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			lightertest.NewHandler(opts)
		})
	}
}

package lightertest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFailNext(t *testing.T) {
	c := newClock()
	h := lightertest.NewHandler(lightertest.Options{Limit: 2, Now: c.Now})
	h.FailNext(1, http.StatusServiceUnavailable)
	rec := get(h, lighter.PathSystemConfig)
	if rec.Code != 503 || body(t, rec)["code"] != float64(503) {
		t.Fatalf("first: %d %s, want 503 with code 503", rec.Code, rec.Body)
	}
	if rec := get(h, lighter.PathSystemConfig); rec.Code != 200 {
		t.Fatalf("second: %d, want 200", rec.Code)
	}
	// The failed request counted against the limit, as a real server's
	// would.
	if rec := get(h, lighter.PathSystemConfig); rec.Code != 429 {
		t.Fatalf("third: %d, want 429", rec.Code)
	}
	// A 429 does not use up an injected failure.
	h.FailNext(2, http.StatusBadGateway)
	if rec := get(h, lighter.PathSystemConfig); rec.Code != 429 {
		t.Fatalf("fourth: %d, want 429", rec.Code)
	}
	c.at(1000)
	for i, want := range []int{502, 502, 200} {
		if rec := get(h, lighter.PathOrderBooks); rec.Code != want {
			t.Fatalf("after the window, request %d: %d, want %d", i, rec.Code, want)
		}
		if i == 1 {
			c.at(2000)
		}
	}
	var statuses []int
	for _, r := range h.Requests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{503, 200, 429, 429, 502, 502, 200}; !equal(statuses, want) {
		t.Fatalf("logged statuses %v, want %v", statuses, want)
	}
}

func TestFailNextCancel(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	h.FailNext(5, 503)
	h.FailNext(0, 503)
	if rec := get(h, lighter.PathSystemConfig); rec.Code != 200 {
		t.Fatalf("status %d after cancelling", rec.Code)
	}
}

func TestSetPathStatus(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	h.SetPathStatus(lighter.PathOrderBooks, 500)
	if rec := get(h, lighter.PathOrderBooks); rec.Code != 500 {
		t.Fatalf("orderBooks: %d, want 500", rec.Code)
	}
	if rec := get(h, lighter.PathSystemConfig); rec.Code != 200 {
		t.Fatalf("another path: %d, want 200", rec.Code)
	}
	h.SetPathStatus(lighter.PathOrderBooks, 0)
	if rec := get(h, lighter.PathOrderBooks); rec.Code != 200 {
		t.Fatalf("restored: %d, want 200", rec.Code)
	}
}

func TestSetPathCode(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	h.SetPathCode(lighter.PathSystemConfig, 21100, "account not found")
	rec := get(h, lighter.PathSystemConfig)
	m := body(t, rec)
	if rec.Code != 200 || m["code"] != float64(21100) || m["message"] != "account not found" {
		t.Fatalf("got %d %v, want 200 with code 21100", rec.Code, m)
	}
	h.SetPathCode(lighter.PathSystemConfig, 0, "")
	if m := body(t, get(h, lighter.PathSystemConfig)); m["code"] != float64(200) {
		t.Fatalf("restored: %v", m)
	}
}

func TestSetPathBody(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	h.SetPathBody(lighter.PathAccount, `{"code":200,"accounts":[]}`)
	if rec := get(h, lighter.PathAccount+"?by=index&value=1"); rec.Body.String() != `{"code":200,"accounts":[]}` {
		t.Fatalf("body %q", rec.Body)
	}
	h.SetPathBody(lighter.PathAccount, "")
	if m := body(t, get(h, lighter.PathAccount+"?by=index&value=1")); len(m["accounts"].([]any)) != 1 {
		t.Fatalf("restored: %v", m)
	}
}

func TestReset(t *testing.T) {
	c := newClock()
	h := lightertest.NewHandler(lightertest.Options{Limit: 1, Now: c.Now})
	get(h, lighter.PathSystemConfig)
	h.FailNext(1, 503)
	h.SetPathStatus(lighter.PathOrderBooks, 500)
	h.Reset()
	if st := h.Stats(); st.Total != 0 || len(st.ByPath) != 0 || len(h.Requests()) != 0 {
		t.Fatalf("stats after reset: %+v", st)
	}
	// The window, the failure and the path status are gone too.
	if rec := get(h, lighter.PathOrderBooks); rec.Code != 200 {
		t.Fatalf("after reset: %d, want 200", rec.Code)
	}
}

func TestCountersAndArrivals(t *testing.T) {
	c := newClock()
	h := lightertest.NewHandler(lightertest.Options{Now: c.Now})
	for i, p := range []string{lighter.PathSystemConfig, lighter.PathOrderBooks, lighter.PathOrderBooks + "?filter=spot"} {
		c.at(i * 100)
		get(h, p)
	}
	if got := h.Count(lighter.PathOrderBooks); got != 2 {
		t.Fatalf("Count(orderBooks) = %d, want 2", got)
	}
	at := h.Arrivals()
	if len(at) != 3 || !at[0].Equal(epoch) || at[2].Sub(at[0]) != 200*time.Millisecond {
		t.Fatalf("arrivals %v", at)
	}
	if q := h.Requests()[2].Query.Get("filter"); q != "spot" {
		t.Fatalf("logged query filter=%q, want spot", q)
	}
	// Copies: changing them does not change the server's.
	st := h.Stats()
	st.ByPath[lighter.PathOrderBooks] = 99
	if h.Count(lighter.PathOrderBooks) != 2 {
		t.Fatal("Stats returned the server's map")
	}
}

// closeTracker records that the handler closed the request body.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestBodyClosed(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	for _, path := range []string{"/api/v1/sendTx", lighter.PathSystemConfig} {
		b := &closeTracker{Reader: strings.NewReader("tx_type=14&tx_info={}")}
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Body = b
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !b.closed {
			t.Fatalf("%s: body not closed", path)
		}
		if want := map[string]int{"/api/v1/sendTx": 404, lighter.PathSystemConfig: 405}[path]; rec.Code != want {
			t.Fatalf("POST %s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestServerConcurrent(t *testing.T) {
	// A window long enough that scheduling cannot move an arrival out of
	// it: exactly Limit of the concurrent requests pass.
	srv := lightertest.NewServer(lightertest.Options{Limit: 5, Window: 30 * time.Second})
	defer srv.Close()
	client := srv.Client()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 40 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + lighter.PathSystemConfig)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 5 || codes[429] != 35 {
		t.Fatalf("statuses %v, want 5 x 200 and 35 x 429", codes)
	}
	if st := srv.Stats(); st.Total != 40 || st.TooMany != 35 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerClose(t *testing.T) {
	srv := lightertest.NewServer(lightertest.Options{})
	resp, err := srv.Client().Get(srv.URL + lighter.PathSystemConfig)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	if resp, err := http.Get(srv.URL + lighter.PathSystemConfig); err == nil {
		resp.Body.Close()
		t.Fatal("request succeeded after Close")
	}
}

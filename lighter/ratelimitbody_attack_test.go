package lighter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// A 101 Switching Protocols answer (an upgrade through Session.Do) is
// handed over at once: its body, the connection, is not peeked for a
// code, which would wait for the other side to speak, whatever the
// request's context says.
func TestBodyCodeSkipsSwitchingProtocols(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		<-release // say nothing until the test ends
	}))
	defer srv.Close()
	var once bool
	releaseOnce := func() {
		if !once {
			once = true
			close(release)
		}
	}
	defer releaseOnce()
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000, Burst: 10})
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.Do(req)
		done <- result{resp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		releaseOnce() // the server hangs up: Do returns
		res = <-done
		if res.err == nil {
			res.resp.Body.Close()
		}
		t.Fatal("Do waited for the body of a 101 answer")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	if res.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.resp.StatusCode)
	}
}

// A code of 429 written as a JSON float ("429.0", "4.29e2") or as a
// string is rate limiting as the integer is: held and retried, where it
// was a decoding error.
func TestBodyCode429Forms(t *testing.T) {
	for _, body := range []string{
		`{"code":429.0,"message":"Too Many Requests"}`,
		`{"code":4.29e2}`,
		`{"code":"429","message":"Too Many Requests"}`,
		` {"code": 429} `,
	} {
		t.Run(body, func(t *testing.T) {
			srv, hits := bodyServer(t, answer{200, body}, answer{200, `{"code":200,"liquidity_pool_index":77}`})
			rec := &holdRecorder{Limiter: memory.New()}
			defer rec.Limiter.Close()
			bodies := &closeCounter{base: http.DefaultTransport}
			s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: 2, Base: bodies, RequestsPerSecond: 1000, Burst: 10})
			cfg, err := s.SystemConfig(context.Background())
			if err != nil || cfg.LiquidityPoolIndex != 77 {
				t.Fatalf("SystemConfig: %v, %+v: want the retried answer", err, cfg)
			}
			if n, h := hits.Load(), rec.Holds(); n != 2 || len(h) != 1 {
				t.Fatalf("%d requests and holds %v, want 2 and one hold", n, h)
			}
			if n := bodies.open.Load(); n != 0 {
				t.Fatalf("%d response bodies left open", n)
			}
		})
	}
}

// Codes that are not 429 in any form pass untouched.
func TestBodyCodeNot429Forms(t *testing.T) {
	for _, body := range []string{
		`{"code":429.5}`, `{"code":"429 "}`, `{"code":"0x1ad"}`, `{"code":"4.29e2x"}`,
		`{"code":null}`, `{"code":[429]}`, `{"code":{"code":429}}`, `[{"code":429}]`, `"429"`,
	} {
		t.Run(body, func(t *testing.T) {
			srv, hits := bodyServer(t, answer{200, body})
			rec := &holdRecorder{Limiter: memory.New()}
			defer rec.Limiter.Close()
			s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: 2, RequestsPerSecond: 1000, Burst: 10})
			resp, err := s.Get(context.Background(), "/api/v1/x", nil)
			if err != nil {
				t.Fatalf("Get: %v, want the answer untouched", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != body || resp.StatusCode != 200 {
				t.Fatalf("status %d body %q (%v), want 200 and %q", resp.StatusCode, got, err, body)
			}
			if n, h := hits.Load(), rec.Holds(); n != 1 || len(h) != 0 {
				t.Fatalf("%d requests and holds %v, want 1 and none", n, h)
			}
		})
	}
}

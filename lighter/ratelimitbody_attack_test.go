package lighter_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
	"github.com/sharedlimit/sharedlimit/retrypolicy"
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
			if n, h, _ := retried429(t, answer{200, body}); n != 2 || len(h) != 1 {
				t.Fatalf("%d requests and holds %v, want 2 and one hold", n, h)
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
			if n, h := hits.Load(), rec.settled(s); n != 1 || len(h) != 0 {
				t.Fatalf("%d requests and holds %v, want 1 and none", n, h)
			}
		})
	}
}

// bodyKindsSession is a Session with no retries on srv, recording holds
// and counting open bodies.
func bodyKindsSession(t *testing.T, srv *httptest.Server) (*lighter.Session, *holdRecorder, *testutil.BodyCounter) {
	t.Helper()
	rec := &holdRecorder{Limiter: memory.New()}
	t.Cleanup(func() { rec.Limiter.Close() })
	bodies := &testutil.BodyCounter{Next: http.DefaultTransport}
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: lighter.NoRetries, Base: bodies, RequestsPerSecond: 1000, Burst: 10})
	return s, rec, bodies
}

// A body that never ends is peeked no further than the peek's bound: Get
// returns, the caller reads on from the first byte, and closing the body
// ends the server's writing.
func TestBodyCodeEndlessBody(t *testing.T) {
	const maxWritten = 64 << 20 // the handler's own bound, should the client never hang up
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"code":200,"message":"`)
		chunk := []byte(strings.Repeat("x", 1024))
		for written.Load() < maxWritten && r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	s, rec, bodies := bodyKindsSession(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Get(ctx, "/api/v1/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	_, err = io.ReadFull(resp.Body, head)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(string(head), `{"code":200,"message":"xxx`) || strings.Trim(string(head[23:]), "x") != "" {
		t.Fatalf("read %v, head %q...: want the body from its first byte", err, head[:40])
	}
	if n := written.Load(); n >= maxWritten {
		t.Fatalf("the server wrote %d bytes: the body was read without bound", n)
	}
	if len(rec.settled(s)) != 0 || bodies.Open.Load() != 0 {
		t.Fatalf("holds %v, %d bodies open: want none", rec.settled(s), bodies.Open.Load())
	}
}

// A slow chunked body is read whole by the peek when short: a 429 code
// split across chunks is seen, and any other answer reaches the caller
// byte for byte.
func TestBodyCodeSlowChunkedBody(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  int
		holds int
	}{
		{[]string{`{"code":`, `429,"message":`, `"Too Many Requests"}`}, 429, 1},
		{[]string{`{"code":`, `200,"liquidity_pool_index":`, `5}`}, 200, 0},
	} {
		t.Run(strings.Join(tc.parts, ""), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				for _, p := range tc.parts {
					io.WriteString(w, p)
					rc.Flush()
					time.Sleep(20 * time.Millisecond)
				}
			}))
			defer srv.Close()
			s, rec, bodies := bodyKindsSession(t, srv)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/x", nil)
			resp, err := s.Do(req)
			var re *retrypolicy.Error
			switch {
			case tc.want == 429:
				// no retries: the retry policy gives up on the 429,
				// with the body
				if !errors.As(err, &re) || re.StatusCode != 429 || string(re.Body) != strings.Join(tc.parts, "") {
					t.Fatalf("error %v, want a 429 with the whole body", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != tc.want || string(got) != strings.Join(tc.parts, "") {
					t.Fatalf("status %d body %q (%v), want %d and the whole body", resp.StatusCode, got, err, tc.want)
				}
			}
			if len(rec.settled(s)) != tc.holds || bodies.Open.Load() != 0 {
				t.Fatalf("holds %v, %d bodies open: want %d holds, none open", rec.settled(s), bodies.Open.Load(), tc.holds)
			}
		})
	}
}

// A huge body, with a Content-Length or chunked, reaches the caller whole.
func TestBodyCodeHugeBody(t *testing.T) {
	big := `{"code":200,"message":"` + strings.Repeat("y", 8<<20) + `"}`
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				}
				io.WriteString(w, big)
			}))
			defer srv.Close()
			s, rec, bodies := bodyKindsSession(t, srv)
			resp, err := s.Get(context.Background(), "/api/v1/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != big {
				t.Fatalf("read %d bytes (%v), want %d, the same", len(got), err, len(big))
			}
			if len(rec.settled(s)) != 0 || bodies.Open.Load() != 0 {
				t.Fatalf("holds %v, %d bodies open", rec.settled(s), bodies.Open.Load())
			}
		})
	}
}

// A gzip'd 429 body is seen, whether net/http decompressed it (it asked
// for gzip) or the caller did (it asked itself and reads the raw bytes);
// any other gzip'd answer reaches the caller as it came.
func TestBodyCodeGzipBody(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, s)
		zw.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name     string
		body     string
		byCaller bool
		want     int
	}{
		{"429 decompressed by net/http", limitedBody, false, 429},
		{"429 raw to the caller", limitedBody, true, 429},
		{"200 raw to the caller", `{"code":200,"liquidity_pool_index":5}`, true, 200},
		{"200 decompressed by net/http", `{"code":200,"liquidity_pool_index":5}`, false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zipped := gz(tc.body)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept-Encoding") != "gzip" {
					t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
				}
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(zipped)
			}))
			defer srv.Close()
			s, rec, bodies := bodyKindsSession(t, srv)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/x", nil)
			if tc.byCaller {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			resp, err := s.Do(req)
			switch {
			case tc.want == 429 && err != nil:
				// no retries: the retry policy gives up on the 429
				var re *retrypolicy.Error
				if !errors.As(err, &re) || re.StatusCode != 429 {
					t.Fatalf("error %v, want a 429", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				got, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := tc.body
				if tc.byCaller {
					want = string(zipped)
				}
				if rerr != nil || resp.StatusCode != tc.want || string(got) != want {
					t.Fatalf("status %d body %q (%v), want %d and %q", resp.StatusCode, got, rerr, tc.want, want)
				}
			}
			if wantHolds := map[bool]int{true: 1, false: 0}[tc.want == 429]; len(rec.settled(s)) != wantHolds || bodies.Open.Load() != 0 {
				t.Fatalf("holds %v, %d bodies open: want %d holds, none open", rec.settled(s), bodies.Open.Load(), wantHolds)
			}
		})
	}
}

// A POST answered 200 with a body code of 429 is rate limiting too: the
// key is held, the POST is not retried (it is not idempotent), and the
// caller gets the 429 with the whole body.
func TestBodyCode429OnPOST(t *testing.T) {
	srv, hits := bodyServer(t, answer{200, limitedBody})
	rec := &holdRecorder{Limiter: memory.New()}
	defer rec.Limiter.Close()
	bodies := &testutil.BodyCounter{Next: http.DefaultTransport}
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: rec, Retries: 3, Base: bodies, RequestsPerSecond: 1000, Burst: 10})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/sendTx", strings.NewReader("tx_type=14"))
	resp, err := s.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 429 || string(got) != limitedBody {
		t.Fatalf("status %d body %q (%v), want 429 and the whole body", resp.StatusCode, got, err)
	}
	if hits.Load() != 1 || len(rec.settled(s)) != 1 || bodies.Open.Load() != 0 {
		t.Fatalf("%d requests, holds %v, %d bodies open: want 1, one hold, none open", hits.Load(), rec.settled(s), bodies.Open.Load())
	}
}

package lighter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
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

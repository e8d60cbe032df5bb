package retrypolicy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// reply is one scripted response of a testServer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// testServer answers with its replies in order, repeating the last one,
// and records what it received.
type testServer struct {
	*httptest.Server

	mu      sync.Mutex
	replies []reply
	bodies  [][]byte
	methods []string
}

func newTestServer(t *testing.T, replies ...reply) *testServer {
	t.Helper()
	s := &testServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server: reading request body: %v", err)
		}
		s.mu.Lock()
		n := len(s.bodies)
		s.bodies = append(s.bodies, body)
		s.methods = append(s.methods, r.Method)
		rep := s.replies[min(n, len(s.replies)-1)]
		s.mu.Unlock()
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// hits returns the number of requests received.
func (s *testServer) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// received returns the request bodies received, in order.
func (s *testServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// sleeps is an injected Config.Sleep that records the delays and returns
// at once, so no test sleeps through a backoff.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// quiet returns a Config that sleeps into s and logs nowhere.
func quiet(s *sleeps) Config {
	return Config{Sleep: s.sleep, Logger: slog.New(slog.DiscardHandler)}
}

// roundTripFunc makes a function an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newClient returns a client whose transport is NewTransport(inner, cfg).
func newClient(t *testing.T, inner http.RoundTripper, cfg Config) *http.Client {
	t.Helper()
	rt, err := NewTransport(inner, cfg)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	return &http.Client{Transport: rt}
}

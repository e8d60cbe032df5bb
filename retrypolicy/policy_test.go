package retrypolicy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

func TestBackoffSequence(t *testing.T) {
	s, err := Config{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for retry := 1; retry <= 10; retry++ {
		got = append(got, s.backoff(retry, 0.5))
	}
	want := []time.Duration{0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 64 * time.Second, 120 * time.Second, 120 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff: %v, want %v", got, want)
	}
	// Far past any float64 or Duration range: still the cap.
	if d := s.backoff(5000, 0.5); d != 120*time.Second {
		t.Errorf("backoff(5000) = %v, want the 120s cap", d)
	}
}

func TestBackoffJitter(t *testing.T) {
	s, err := Config{Jitter: 0.25, BackoffFactor: 2, MaxBackoff: 9 * time.Second}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		retry int
		r     float64 // the random draw, uniform in [0, 1)
		want  time.Duration
	}{
		{1, 0, 0}, // no sleep before the first retry, jitter or not
		{1, 0.99, 0},
		{2, 0, 3 * time.Second}, // 4s - 25%
		{2, 0.5, 4 * time.Second},
		{2, 0.75, 4500 * time.Millisecond}, // 4s + 12.5%
		{3, 0, 6 * time.Second},            // 8s - 25%
		{3, 0.99, 9 * time.Second},         // 8s + 24.5%, capped
	} {
		if got := s.backoff(tc.retry, tc.r); got != tc.want {
			t.Errorf("backoff(%d, r=%v) = %v, want %v", tc.retry, tc.r, got, tc.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var errPermanent = errors.New("limiter closed")

func TestRetryableErrors(t *testing.T) {
	s, err := Config{Permanent: func(err error) bool { return errors.Is(err, errPermanent) }}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, true},
		{fmt.Errorf("wrapped: %w", timeoutError{}), true},
		{&net.DNSError{Err: "no such host", Name: "x", IsTemporary: true}, true},
		{errPermanent, false},
		{fmt.Errorf("limiter: %w", errPermanent), false},
		{context.Canceled, false},
		{fmt.Errorf("dial: %w", context.Canceled), false},
		{x509.UnknownAuthorityError{}, false},
		{x509.HostnameError{Host: "x"}, false},
		{errors.New(`unsupported protocol scheme "ftp"`), false},
		{&bodyError{errors.New("gone")}, false},
	} {
		if got := s.retryable(nil, tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for code, want := range map[int]bool{200: false, 404: false, 429: true, 500: true, 501: false, 503: true} {
		if got := s.retryable(&http.Response{StatusCode: code}, nil); got != want {
			t.Errorf("retryable(status %d) = %v, want %v", code, got, want)
		}
	}
}

// The production sleeper returns as soon as its context ends, even in the
// middle of a sleep of an hour.
func TestSleepContextStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sleepContext(ctx, time.Hour)
	}()
	cancel()
	<-done // hangs (test timeout) if the sleep ignores ctx

	sleepContext(t.Context(), 0)               // returns at once
	sleepContext(t.Context(), -time.Second)    // returns at once
	sleepContext(t.Context(), time.Nanosecond) // a real, tiny sleep
}

// New's policy, used on its own with failsafehttp, already closes the
// gaps of failsafehttp's own policy: an HTTP-date Retry-After is obeyed
// and the retried body is closed.
func TestPolicyWithFailsafeHTTP(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := newTestServer(t,
		reply{status: 503, header: map[string]string{"Retry-After": now.Add(42 * time.Second).Format(http.TimeFormat)}, body: "busy"},
		reply{status: 200, body: "ok"},
	)
	var sl sleeps
	cfg := quiet(&sl)
	cfg.Now = func() time.Time { return now }
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inner := &testutil.BodyCounter{Next: srv.Client().Transport}
	client := &http.Client{Transport: failsafehttp.NewRoundTripper(inner, p)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if open := inner.Open.Load(); open != 1 {
		t.Errorf("%d bodies open before the caller closes its own, want 1", open)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if got := sl.got(); !slices.Equal(got, []time.Duration{42 * time.Second}) {
		t.Errorf("sleeps %v, want [42s]", got)
	}
	if open := inner.Open.Load(); open != 0 {
		t.Errorf("%d bodies left open", open)
	}
}

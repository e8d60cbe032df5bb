package retrypolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	failsaferetry "github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

// withUser returns raw with credentials in its userinfo.
func withUser(t *testing.T, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("alice", "s3cret")
	u.Path = "/api/v1/account"
	plain := *u
	plain.User = nil
	return u.String(), plain.String()
}

func TestFinalErrorAfterStatus(t *testing.T) {
	page := strings.Repeat("0123456789", 200) // 2000 bytes
	srv := newTestServer(t, reply{status: 503, body: page})
	secretURL, plainURL := withUser(t, srv.URL)
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	var sl sleeps
	rt, err := NewTransport(c, quiet(&sl))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, secretURL, nil)
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		t.Errorf("a response (%d) with the error", resp.StatusCode)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	if e.Method != "GET" || e.URL != plainURL || e.Attempts != 6 || e.StatusCode != 503 || e.Err != nil {
		t.Errorf("Error %+v", e)
	}
	if string(e.Body) != page[:MaxBodyExcerpt] {
		t.Errorf("Body excerpt %d bytes %.20q..., want the first %d", len(e.Body), e.Body, MaxBodyExcerpt)
	}
	want := `retrypolicy: GET ` + plainURL + ` giving up after 6 attempt(s): last status 503: "` + page[:MaxBodyExcerpt] + `"`
	if e.Error() != want {
		t.Errorf("message\n%s\nwant\n%s", e.Error(), want)
	}
	if strings.Contains(e.Error(), "s3cret") || strings.Contains(e.Error(), "alice") {
		t.Error("credentials in the error")
	}
	var ex failsaferetry.ExceededError
	if !errors.As(err, &ex) || !errors.Is(err, failsaferetry.ErrExceeded) || !failsaferetry.IsExceededError(err) {
		t.Errorf("error does not unwrap to failsafe's ExceededError: %v", err)
	}
	if ex.LastResult != nil || !strings.Contains(ex.Error(), "503") {
		t.Errorf("ExceededError %v", ex)
	}
	if c.Open.Load() != 0 || c.Opened.Load() != 6 {
		t.Errorf("%d of %d bodies left open", c.Open.Load(), c.Opened.Load())
	}
}

func TestFinalErrorAfterError(t *testing.T) {
	c := &testutil.BodyCounter{Next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, io.ErrUnexpectedEOF
	})}
	var sl sleeps
	cfg := quiet(&sl)
	cfg.Retries = 2
	client := newClient(t, c, cfg)
	_, err := client.Get("http://bob:hunter2@api.example/x?y=1")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want *Error", err)
	}
	if e.Attempts != 3 || e.StatusCode != 0 || e.Body != nil || !errors.Is(e.Err, io.ErrUnexpectedEOF) {
		t.Errorf("Error %+v", e)
	}
	want := "retrypolicy: GET http://api.example/x?y=1 giving up after 3 attempt(s): last error: unexpected EOF"
	if e.Error() != want {
		t.Errorf("message %q, want %q", e.Error(), want)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, failsaferetry.ErrExceeded) {
		t.Errorf("error %v does not unwrap to both the cause and ExceededError", err)
	}
}

// Every retry is logged, with what the original's LoggingRetry logs, and
// reported to OnRetry; neither sees credentials.
func TestRetriesLoggedAndReported(t *testing.T) {
	srv := newTestServer(t,
		reply{status: 503},
		reply{status: 429, header: map[string]string{"Retry-After": "5"}},
		reply{status: 200},
	)
	secretURL, plainURL := withUser(t, srv.URL)
	var logs bytes.Buffer
	var sl sleeps
	var events []RetryEvent
	cfg := Config{
		Sleep:   sl.sleep,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		OnRetry: func(ev RetryEvent) { events = append(events, ev) },
	}
	resp, err := newClient(t, srv.Client().Transport, cfg).Get(secretURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	wantEvents := []RetryEvent{
		{Method: "GET", URL: plainURL, Attempt: 1, StatusCode: 503, Delay: 0},
		{Method: "GET", URL: plainURL, Attempt: 2, StatusCode: 429, Delay: 5 * time.Second, RetryAfter: true},
	}
	if !slices.Equal(events, wantEvents) {
		t.Errorf("events\n%+v\nwant\n%+v", events, wantEvents)
	}

	if strings.Contains(logs.String(), "s3cret") {
		t.Error("credentials in the log")
	}
	var records []map[string]any
	dec := json.NewDecoder(&logs)
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
	}
	if len(records) != 2 {
		t.Fatalf("%d log records, want 2", len(records))
	}
	for i, r := range records {
		ev := wantEvents[i]
		if r["level"] != "WARN" || r["method"] != "GET" || r["url"] != plainURL ||
			r["attempt"] != float64(ev.Attempt) || r["status"] != float64(ev.StatusCode) ||
			r["delay"] != float64(ev.Delay) {
			t.Errorf("log record %d: %v", i, r)
		}
	}
}

func TestRetryOfErrorLogged(t *testing.T) {
	srv := newTestServer(t, reply{status: 200})
	first := true
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if first {
			first = false
			return nil, io.ErrUnexpectedEOF
		}
		return srv.Client().Transport.RoundTrip(r)
	})
	var logs bytes.Buffer
	var sl sleeps
	var events []RetryEvent
	cfg := Config{
		Sleep:   sl.sleep,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		OnRetry: func(ev RetryEvent) { events = append(events, ev) },
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/thing", nil)
	resp, err := newClient(t, inner, cfg).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(events) != 1 || events[0].Method != "DELETE" || events[0].URL != srv.URL+"/thing" ||
		events[0].StatusCode != 0 || !errors.Is(events[0].Err, io.ErrUnexpectedEOF) {
		t.Errorf("events %+v", events)
	}
	if !strings.Contains(logs.String(), `error="unexpected EOF"`) || strings.Contains(logs.String(), "status=") {
		t.Errorf("log %q", logs.String())
	}
}

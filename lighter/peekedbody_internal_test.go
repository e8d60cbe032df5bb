package lighter

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"
)

// baseFunc is an http.RoundTripper of a function.
type baseFunc func(*http.Request) (*http.Response, error)

func (f baseFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answerWith is a base that answers 200 with body.
func answerWith(body io.ReadCloser) http.RoundTripper {
	return baseFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: body, ContentLength: -1, Request: r}, nil
	})
}

// roundTripWithin runs the bodyCodeTransport on base, failing the test when
// it takes longer than limit.
func roundTripWithin(t *testing.T, ctx context.Context, base http.RoundTripper, limit time.Duration) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example/x", nil)
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := (&bodyCodeTransport{base: base}).RoundTrip(req)
		if err != nil {
			t.Errorf("RoundTrip: %v", err)
		}
		done <- resp
	}()
	select {
	case resp := <-done:
		return resp
	case <-time.After(limit):
		t.Fatalf("RoundTrip still blocked after %s", limit)
		return nil
	}
}

// Every byte of a body reaches the caller through the peek, in order,
// whatever its length around the peek's bound and however the original
// hands its bytes out.
func TestPeekedBodyKeepsEveryByte(t *testing.T) {
	for _, n := range []int{0, 1, maxCodePeek - 1, maxCodePeek, maxCodePeek + 1, maxCodePeek + 2, 3*maxCodePeek + 7} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i*7 + i/251)
		}
		for name, r := range map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(want) },
			"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(want)) },
			"data-err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(want)) },
			"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(want)) },
		} {
			resp := roundTripWithin(t, context.Background(), answerWith(io.NopCloser(r())), 5*time.Second)
			got, err := io.ReadAll(iotest.OneByteReader(resp.Body))
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, want) || resp.StatusCode != 200 {
				t.Errorf("%d bytes, %s: read %d bytes (equal %v), %v, status %d", n, name, len(got), bytes.Equal(got, want), err, resp.StatusCode)
			}
		}
	}
}

// A body failing within the peek hands the caller the bytes before the
// failure, then the failure itself (not a clean EOF: a truncated answer
// must not look whole).
func TestPeekedBodyErrorMidPeek(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.NopCloser(io.MultiReader(bytes.NewReader([]byte(`{"code":4`)), iotest.ErrReader(boom)))
	resp := roundTripWithin(t, context.Background(), answerWith(body), 5*time.Second)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if string(got) != `{"code":4` || !errors.Is(err, boom) || resp.StatusCode != 200 {
		t.Fatalf("read %q, %v, status %d; want the bytes, then the failure, status 200", got, err, resp.StatusCode)
	}
}

// A caller whose context ends during the peek gets the answer at once;
// closing its body ends the peek's goroutine, and a Read after Close
// fails instead of waiting.
func TestPeekedBodyCancelledThenClosed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(`{"code":`)) // then nothing: the peek waits
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp := roundTripWithin(t, ctx, answerWith(pr), 5*time.Second)
	if d := time.Since(start); d > 900*time.Millisecond || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip took %s, status %d; want the answer as the context ends, as it came", d, resp.StatusCode)
	}
	closeThenRead(t, resp.Body)
}

// A body whose start is slower than maxPeekWait is handed on as it came
// (its status unchanged) after that bound, and its every byte still
// reaches the caller.
func TestPeekedBodySlowStart(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write([]byte(`{"code":`))
	start := time.Now()
	resp := roundTripWithin(t, context.Background(), answerWith(pr), 5*time.Second)
	defer resp.Body.Close()
	if d := time.Since(start); d < maxPeekWait || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip after %s, status %d; want the bound (%s), 200", d, resp.StatusCode, maxPeekWait)
	}
	go func() {
		pw.Write([]byte(`429}`))
		pw.Close()
	}()
	got, err := io.ReadAll(resp.Body)
	if string(got) != `{"code":429}` || err != nil {
		t.Fatalf("read %q, %v", got, err)
	}
}

// Over a real connection with net/http's own gunzip, a caller closing the
// body while the peek still waits on a stalled body ends the peek (no
// goroutine left, no race) and a Read after Close fails at once.
func TestPeekedBodyCloseDuringPeekOverHTTP(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`{"code":`))
		zw.Flush()
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stall)
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := (&bodyCodeTransport{base: base}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Uncompressed || resp.StatusCode != 200 {
		t.Fatalf("Uncompressed %v, status %d: want net/http's gunzip, 200", resp.Uncompressed, resp.StatusCode)
	}
	closeThenRead(t, resp.Body)
	base.CloseIdleConnections()
}

// closeThenRead closes body and checks that a Read after Close fails, and
// within 5 s.
func closeThenRead(t *testing.T, body io.ReadCloser) {
	t.Helper()
	body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read after Close read a whole body")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read after Close still waiting")
	}
}

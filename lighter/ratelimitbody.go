package lighter

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxCodePeek is the largest body bodyCodeTransport reads to look for a
// rate-limit code; a longer body is an answer, not a rate-limit error.
const maxCodePeek = 4 << 10

// bodyCodeTransport turns an answer whose JSON body carries "code": 429
// (in any JSON form: see bodyCode429), whatever its HTTP status, into a
// 429, so that the limiter transport above it holds the key and the retry
// policy retries it, as for a 429 status. It reads at most maxCodePeek
// bytes of a body (gunzipped when the caller asked for gzip itself) and
// hands the caller the whole body again; closing it closes the original.
// A 101 Switching Protocols answer is left alone: its body is the
// connection, and reading it would wait for the other side to speak.
type bodyCodeTransport struct {
	base http.RoundTripper
}

// RoundTrip sends req and checks the answer's body code.
func (t *bodyCodeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusSwitchingProtocols ||
		resp.ContentLength > maxCodePeek || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	body := newPeekedBody(resp.Body)
	resp.Body = body
	timer := time.NewTimer(maxPeekWait)
	defer timer.Stop()
	select {
	case <-body.done:
	case <-timer.C:
		return resp, nil // still arriving: no rate-limit answer, handed on as it comes
	case <-req.Context().Done():
		return resp, nil // the caller's read of the body ends with the context
	}
	if body.err == nil && len(body.peek) <= maxCodePeek && bodyCode429(decoded(resp, body.peek)) {
		resp.StatusCode = http.StatusTooManyRequests
		resp.Status = "429 Too Many Requests"
	}
	return resp, nil
}

// decoded is the peeked body as JSON: gunzipped when it is gzip'd and
// net/http left it so (the caller asked for gzip itself), at most
// maxCodePeek bytes of it; nil when it does not gunzip whole.
func decoded(resp *http.Response, peek []byte) []byte {
	if resp.Uncompressed || !strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip") {
		return peek
	}
	zr, err := gzip.NewReader(bytes.NewReader(peek))
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxCodePeek+1))
	if err != nil || len(b) > maxCodePeek {
		return nil
	}
	return b
}

// bodyCode429 reports whether b is a JSON object whose top-level "code" is
// 429: the integer, the same number in another form (429.0, 4.29e2), or
// that number as a string ("429").
func bodyCode429(b []byte) bool {
	var v struct {
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(b, &v) != nil || len(v.Code) == 0 {
		return false
	}
	num := v.Code
	if num[0] == '"' {
		var s string
		if json.Unmarshal(num, &s) != nil {
			return false
		}
		num = []byte(s)
	}
	if len(num) == 0 || (num[0] != '-' && (num[0] < '0' || num[0] > '9')) || !json.Valid(num) {
		return false // null, an array, an object, or a string not a number
	}
	f, err := strconv.ParseFloat(string(num), 64)
	return err == nil && f == http.StatusTooManyRequests
}

// maxPeekWait bounds how long RoundTrip waits for the first maxCodePeek
// bytes of a body: a rate-limit answer is small and comes whole at once,
// while a body that trickles (or never ends) would otherwise hold the
// caller for as long as its server likes, whatever the caller's deadline.
const maxPeekWait = time.Second

// peekedBody is a body whose start is read by a goroutine of its own: a
// Read waits for that start, then reads it and the rest of the original;
// Close closes the original, which also ends the goroutine's read.
type peekedBody struct {
	orig io.ReadCloser
	done chan struct{} // closed when peek and err are set
	peek []byte
	err  error
	r    io.Reader // peek then the rest, from the first Read
}

func newPeekedBody(orig io.ReadCloser) *peekedBody {
	b := &peekedBody{orig: orig, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.peek, b.err = io.ReadAll(io.LimitReader(orig, maxCodePeek+1))
	}()
	return b
}

// Read implements io.Reader.
func (b *peekedBody) Read(p []byte) (int, error) {
	if b.r == nil {
		<-b.done
		rest := io.Reader(b.orig)
		if b.err != nil {
			rest = errReader{b.err}
		}
		b.r = io.MultiReader(bytes.NewReader(b.peek), rest)
	}
	return b.r.Read(p)
}

// Close implements io.Closer.
func (b *peekedBody) Close() error { return b.orig.Close() }

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

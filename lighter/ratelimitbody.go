package lighter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// maxCodePeek is the largest body bodyCodeTransport reads to look for a
// rate-limit code; a longer body is an answer, not a rate-limit error.
const maxCodePeek = 4 << 10

// bodyCodeTransport turns an answer whose JSON body carries "code": 429,
// whatever its HTTP status, into a 429, so that the limiter transport
// above it holds the key and the retry policy retries it, as for a 429
// status. It reads at most maxCodePeek bytes of a body and hands the
// caller the whole body again; closing it closes the original. A 101
// Switching Protocols answer is left alone: its body is the connection,
// and reading it would wait for the other side to speak.
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
	peek, rerr := io.ReadAll(io.LimitReader(resp.Body, maxCodePeek+1))
	rest := io.Reader(resp.Body)
	if rerr != nil {
		rest = errReader{rerr}
	}
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(peek), rest), Closer: resp.Body}
	if rerr == nil && len(peek) <= maxCodePeek && bodyCode(peek) == http.StatusTooManyRequests {
		resp.StatusCode = http.StatusTooManyRequests
		resp.Status = "429 Too Many Requests"
	}
	return resp, nil
}

// bodyCode is the top-level "code" of a JSON object body, 0 if none.
func bodyCode(b []byte) int {
	var v struct {
		Code *int `json:"code"`
	}
	if json.Unmarshal(b, &v) != nil || v.Code == nil {
		return 0
	}
	return *v.Code
}

// peekedBody is a body whose start was read: the read part, then the
// rest; Close closes the original body.
type peekedBody struct {
	io.Reader
	io.Closer
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

package lighter_test

import (
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

// TestStatusErrorShowsBodyOnce: after retries, the body excerpt is the
// retry policy's too; the message quotes it once, and keeps the attempts
// (FuzzAnswers found a 512-byte binary body quoted twice, 4311 bytes).
func TestStatusErrorShowsBodyOnce(t *testing.T) {
	body := []byte("upstream \xfe overloaded")
	re := &retrypolicy.Error{Method: "GET", URL: "https://api.example/x", Attempts: 3, StatusCode: 503, Body: body}
	e := &lighter.StatusError{Method: "GET", URL: "https://api.example/x", StatusCode: 503, Body: body, Err: re}
	msg := e.Error()
	if n := strings.Count(msg, `\xfe overloaded`); n != 1 {
		t.Errorf("%q quotes the body %d times, want once", msg, n)
	}
	for _, want := range []string{"status 503", "3 attempt(s)", "https://api.example/x"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	other := &lighter.StatusError{Method: "GET", URL: "https://api.example/x", StatusCode: 503, Body: body,
		Err: &retrypolicy.Error{Method: "GET", URL: "https://api.example/x", Attempts: 2, StatusCode: 500, Body: []byte("another page")}}
	if msg := other.Error(); !strings.Contains(msg, "another page") || !strings.Contains(msg, `\xfe overloaded`) {
		t.Errorf("%q drops a body that differs from the retry policy's", msg)
	}
}

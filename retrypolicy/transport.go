package retrypolicy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	failsaferetry "github.com/failsafe-go/failsafe-go/retrypolicy"

	secrets "github.com/sharedlimit/sharedlimit/internal/redact"
)

// NewTransport returns an http.RoundTripper that sends each request through
// next (http.DefaultTransport if nil) under the retry policy of cfg, or an
// error naming the first invalid field of cfg.
//
// Every attempt, the first and each retry, is a separate call of
// next.RoundTrip: put the rate-limiting transport in next, so that every
// attempt takes its tokens. Requests whose method is not retried (see
// Config.Methods; an empty Request.Method is GET, as net/http sends it) go
// to next once, untouched.
//
// A request body is sent again byte for byte on each retry: from
// Request.GetBody when set (http.NewRequest sets it for the usual body
// types), else from a copy in memory that the transport reads in full
// before the first attempt. Set GetBody to stream a large body.
//
// The result is the first response that is not retried, or the error of an
// attempt that is not retried (returned as it is, e.g. a Config.Permanent
// error or the end of the request's context), or, when the retries are
// exhausted, an *Error that carries the last status and an excerpt of the
// last body (the body itself is closed). The body of every response that
// is retried is drained and closed.
func NewTransport(next http.RoundTripper, cfg Config) (http.RoundTripper, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{
		methods:  s.methods,
		next:     next,
		retrying: failsafehttp.NewRoundTripper(attempter{next}, s.policy()),
	}, nil
}

// transport is the RoundTripper of NewTransport: it records the call,
// prepares the body for replay and turns failsafe's verdict into an Error.
// failsafehttp runs the policy underneath; attempter makes each attempt.
type transport struct {
	methods  map[string]bool
	next     http.RoundTripper
	retrying http.RoundTripper
}

// call is what the layers of one RoundTrip share, through the context.
type call struct {
	method   string
	url      string   // redacted
	secrets  []string // the URL's credentials, to mask in an echoing body
	attempts atomic.Int32

	body    io.ReadCloser                 // the first attempt's body
	getBody func() (io.ReadCloser, error) // the retries' bodies; nil: reuse body (nil or http.NoBody)
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet // as net/http sends it
	}
	if !t.methods[method] {
		return t.next.RoundTrip(req)
	}
	c := &call{method: method, url: redact(req.URL), secrets: secrets.URLSecrets(req.URL), body: req.Body}
	out := req.WithContext(context.WithValue(req.Context(), callKey{}, c))
	if req.Body != nil && req.Body != http.NoBody {
		c.getBody = req.GetBody
		if c.getBody == nil {
			buf, err := io.ReadAll(req.Body)
			_ = req.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("retrypolicy: %s %s: reading the request body: %w", c.method, c.url, err)
			}
			c.body = io.NopCloser(bytes.NewReader(buf))
			c.getBody = func() (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(buf)), nil
			}
			out.GetBody = c.getBody
		}
	}
	// failsafehttp would buffer the body and set it on the request it was
	// given on every attempt; attempter sets it instead.
	out.Body = nil

	resp, err := t.retrying.RoundTrip(out)
	if err == nil {
		return resp, nil
	}
	if ce, ok := err.(*contextEnded); ok {
		return nil, ce.err
	}
	// Exactly our policy's verdict, not an ExceededError of a policy
	// further in that surfaced as an attempt's error.
	if ex, ok := err.(failsaferetry.ExceededError); ok {
		return nil, newError(c, ex)
	}
	return nil, err
}

// attempter makes one attempt, under failsafehttp, with a fresh body.
type attempter struct {
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (a attempter) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callFrom(req.Context())
	n := c.attempts.Add(1)
	body := c.body
	if n > 1 && c.getBody != nil {
		var err error
		if body, err = c.getBody(); err != nil {
			return nil, &bodyError{err}
		}
	}
	r := req.WithContext(req.Context())
	r.Body = body
	resp, err := a.next.RoundTrip(r)
	if cerr := req.Context().Err(); cerr != nil {
		if err == nil {
			// failsafe drops the outcome of an attempt that ends
			// after its context: release the response here, or
			// nobody will.
			_ = resp.Body.Close()
			err = cerr
		}
		// The request's own context ended: whatever the attempt's
		// error says (a timeout, a refused connection), another
		// attempt cannot cure it.
		return nil, &contextEnded{err}
	}
	return resp, err
}

// contextEnded is the error of an attempt that ended with the request's
// context: never retried, and unwrapped before it reaches the caller.
type contextEnded struct{ err error }

func (e *contextEnded) Error() string { return e.err.Error() }

func (e *contextEnded) Unwrap() error { return e.err }

// bodyError is a failure of Request.GetBody: not retried, since the body
// cannot be replayed.
type bodyError struct{ err error }

func (e *bodyError) Error() string {
	return "retrypolicy: replaying the request body: " + e.err.Error()
}

func (e *bodyError) Unwrap() error { return e.err }

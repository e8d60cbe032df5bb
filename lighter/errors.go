package lighter

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sharedlimit/sharedlimit/retrypolicy"
)

// MaxBodyExcerpt is how much of an error response's body a StatusError
// keeps: the retry policy's bound.
const MaxBodyExcerpt = retrypolicy.MaxBodyExcerpt

// StatusError is a non-2xx answer: the status and the start of the body.
// After retries were exhausted, Err holds the retry policy's error
// (*retrypolicy.Error) with the attempts made.
type StatusError struct {
	// Method is the request method.
	Method string
	// URL is the request URL, credentials masked.
	URL string
	// StatusCode is the status of the (last) answer.
	StatusCode int
	// Body is an excerpt of at most MaxBodyExcerpt bytes, with the request
	// URL's credentials masked (an error page may echo the request).
	Body []byte
	// Err is the retry policy's error when retries were exhausted, else
	// nil.
	Err error
}

// Error names the request, the status and the start of the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("lighter: %s %s: status %d", e.Method, e.URL, e.StatusCode)
	if len(e.Body) > 0 {
		msg += fmt.Sprintf(": %q", e.Body)
	}
	var re *retrypolicy.Error
	switch {
	case errors.As(e.Err, &re) && re.Err == nil && re.StatusCode == e.StatusCode && bytes.Equal(re.Body, e.Body):
		// The retry policy's message would quote the same body again.
		msg += fmt.Sprintf(" (retrypolicy: giving up after %d attempt(s))", re.Attempts)
	case e.Err != nil:
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	return msg
}

// Unwrap returns the retry policy's error, if any.
func (e *StatusError) Unwrap() error { return e.Err }

// APIError is a 2xx answer whose JSON body carries a Lighter "code" other
// than 200.
type APIError struct {
	// Path is the API path called.
	Path string
	// Code is Lighter's code from the body.
	Code int
	// Message is Lighter's message from the body, with the request
	// URL's credentials masked (a message may echo the request).
	Message string
}

// Error names the path, the code and the message.
func (e *APIError) Error() string {
	return fmt.Sprintf("lighter: %s: API code %d: %s", e.Path, e.Code, e.Message)
}

package retrypolicy

import (
	"fmt"
	"net/http"
	"net/url"

	failsaferetry "github.com/failsafe-go/failsafe-go/retrypolicy"

	secrets "github.com/sharedlimit/sharedlimit/internal/redact"
)

// Error is what NewTransport returns when the last attempt failed too.
//
// It unwraps to failsafe-go's retrypolicy.ExceededError, so that
// errors.As(err, &failsaferetry.ExceededError{}) and
// errors.Is(err, failsaferetry.ErrExceeded) hold, and through it to the
// last attempt's error, so that errors.Is(err, io.ErrUnexpectedEOF) holds
// when that was the cause. Its ExceededError carries no LastResult: the
// response is closed by then, and its content is in StatusCode and Body.
type Error struct {
	// Method is the request method.
	Method string
	// URL is the request URL without its userinfo (credentials).
	URL string
	// Attempts is the number of attempts made, the first one included.
	Attempts int
	// StatusCode is the status of the last response, 0 if the last attempt
	// failed without one.
	StatusCode int
	// Body holds the first bytes of the last response's body, at most
	// MaxBodyExcerpt, with the request URL's credentials masked (a page
	// may echo the request); the body itself is closed.
	Body []byte
	// Err is the last attempt's error, nil if it had a response.
	Err error

	exceeded failsaferetry.ExceededError
}

// Error returns, for example, `retrypolicy: GET http://host/path giving up
// after 6 attempt(s): last status 503: "busy"`.
func (e *Error) Error() string {
	head := fmt.Sprintf("retrypolicy: %s %s giving up after %d attempt(s)", e.Method, e.URL, e.Attempts)
	if e.Err != nil {
		return fmt.Sprintf("%s: last error: %v", head, e.Err)
	}
	msg := fmt.Sprintf("%s: last status %d", head, e.StatusCode)
	if len(e.Body) > 0 {
		msg += fmt.Sprintf(": %q", e.Body)
	}
	return msg
}

// Unwrap returns the failsafe-go ExceededError, whose own Unwrap returns
// the last attempt's error.
func (e *Error) Unwrap() error {
	return e.exceeded
}

// newError builds the final error of a call from failsafe's verdict,
// capturing and closing the last response, if any.
func newError(c *call, ex failsaferetry.ExceededError) *Error {
	e := &Error{Method: c.method, URL: c.url, Attempts: int(c.attempts.Load())}
	if resp, ok := ex.LastResult.(*http.Response); ok && resp != nil {
		e.StatusCode = resp.StatusCode
		// A page that echoes the request must not show its credentials.
		e.Body = []byte(secrets.Text(string(excerpt(resp.Body)), c.secrets))
		e.exceeded = failsaferetry.ExceededError{LastError: statusError(resp.StatusCode)}
		return e
	}
	e.Err = ex.LastError
	e.exceeded = failsaferetry.ExceededError{LastError: ex.LastError}
	return e
}

// statusError stands for a failed response in the ExceededError of an
// Error, where failsafe-go would print the whole response.
type statusError int

func (s statusError) Error() string {
	return fmt.Sprintf("status %d %s", int(s), http.StatusText(int(s)))
}

// redact returns u without its userinfo, so that no password reaches an
// error or a log.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	return secrets.URL(&c)
}

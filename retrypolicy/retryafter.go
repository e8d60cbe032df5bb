package retrypolicy

import (
	"net/http"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/retryafter"
)

// retryAfter returns the wait a Retry-After header asks for, in either of
// its forms (RFC 9110 §10.2.3): whole seconds ("120") or an HTTP date
// ("Fri, 31 Dec 1999 23:59:59 GMT"), measured against now. ok is false
// when the header is absent or malformed, or the wait is not positive (a
// date in the past, "0"): the caller then falls back to the backoff, as
// urllib3 does. failsafehttp.DelayFunc parses only the seconds form.
func retryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	wait, ok = retryafter.Parse(h.Get("Retry-After"), now)
	return wait, ok && wait > 0
}

package retrypolicy

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The defaults, those of urllib3's Retry as eth_defi configures it
// (total=5, backoff_factor=0.5, status_forcelist=[429,500,502,503,504],
// respect_retry_after_header=True, idempotent methods only).
const (
	// DefaultRetries is the number of retries after the first attempt.
	DefaultRetries = 5
	// DefaultBackoffFactor is the backoff factor in seconds: the sleep
	// before retry r is factor * 2^(r-1), and none before the first retry.
	DefaultBackoffFactor = 0.5
	// DefaultMaxBackoff caps each backoff sleep, as urllib3's backoff_max.
	DefaultMaxBackoff = 120 * time.Second
	// DefaultMaxRetryAfter caps a wait asked for by a Retry-After header.
	DefaultMaxRetryAfter = 120 * time.Second
)

// NoRetries, as Config.Retries, makes a single attempt and never retries.
const NoRetries = -1

// DefaultStatuses returns the response statuses retried by default:
// 429, 500, 502, 503 and 504.
func DefaultStatuses() []int {
	return []int{
		http.StatusTooManyRequests,
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout,
	}
}

// DefaultRetryAfterStatuses returns the response statuses whose Retry-After
// header is obeyed by default: 429 and 503.
func DefaultRetryAfterStatuses() []int {
	return []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}
}

// DefaultMethods returns the methods retried by default, the idempotent
// ones: GET, HEAD, PUT, DELETE, OPTIONS and TRACE.
func DefaultMethods() []string {
	return []string{
		http.MethodGet,
		http.MethodHead,
		http.MethodPut,
		http.MethodDelete,
		http.MethodOptions,
		http.MethodTrace,
	}
}

// Config configures the retry policy. The zero value means the defaults,
// those of the original (urllib3's Retry as eth_defi configures it): 5
// retries of idempotent requests on connection errors, timeouts and the
// statuses 429, 500, 502, 503 and 504, sleeping 0, 1, 2, 4 and 8 s between
// attempts, or what a Retry-After header on 429 and 503 asks for.
//
// A negative, NaN or otherwise invalid value is an error from New and
// NewTransport that names the field; it is never replaced by a default.
type Config struct {
	// Retries is the number of retries after the first attempt, so
	// Retries+1 attempts at most. Zero means the default; NoRetries (-1)
	// makes one attempt only; any other negative value is an error.
	// The default value is 5.
	Retries int

	// BackoffFactor, in seconds, sets the sleep before retry r (1-based) to
	// BackoffFactor * 2^(r-1), with no sleep before the first retry:
	// 0, 1, 2, 4, 8 s for 0.5. Zero means the default; it must be finite
	// and not negative. The default value is 0.5.
	BackoffFactor float64

	// MaxBackoff caps each backoff sleep, jitter included. Zero means the
	// default; it must not be negative. The default value is 120s.
	MaxBackoff time.Duration

	// Jitter varies each non-zero backoff sleep at random by up to this
	// fraction of it, up or down: 0.1 turns 4 s into 3.6 s to 4.4 s. It
	// must lie in [0, 1]; it never applies to a Retry-After wait.
	// The default value is 0 (no jitter).
	Jitter float64

	// Statuses are the response status codes that are retried. nil means
	// the default; an empty non-nil slice retries no status (connection
	// errors only). Each must lie in 100..599.
	// The default value is DefaultStatuses(): 429, 500, 502, 503, 504.
	Statuses []int

	// RetryAfterStatuses are the retried statuses whose Retry-After header,
	// in seconds or as an HTTP date, replaces the backoff. A wait of zero, a
	// date in the past or a malformed header falls back to the backoff, as
	// in urllib3. nil means the default; an empty non-nil slice ignores
	// Retry-After. Each must lie in 100..599.
	// The default value is DefaultRetryAfterStatuses(): 429, 503.
	RetryAfterStatuses []int

	// MaxRetryAfter caps a Retry-After wait, so that a server cannot park a
	// request for an hour. Zero means the default; it must not be
	// negative. The default value is 120s, the same as MaxBackoff.
	MaxRetryAfter time.Duration

	// Methods are the request methods that are retried, case-sensitive.
	// Requests with other methods are sent once, through the same
	// transport. nil means the default; each must be a valid HTTP token.
	// The default value is DefaultMethods(): GET, HEAD, PUT, DELETE,
	// OPTIONS, TRACE.
	Methods []string

	// RetryPOST adds POST to Methods. POST is not idempotent: opt in only
	// when the server makes a repeated POST harmless.
	// The default value is false.
	RetryPOST bool

	// Permanent reports more errors that must never be retried. Such an
	// error is returned as it is. The limiter's errors (limiter.IsPermanent:
	// "closed", "slot too late", "store unavailable", ...) and the end of
	// the request's own context are never retried, whatever Permanent
	// says. The default value is nil (no error is permanent but those).
	Permanent func(error) bool

	// Logger receives one Warn record per retry, with the method, the URL
	// without credentials, the attempt that failed, its status or error,
	// and the delay before the next attempt. nil means slog.Default(),
	// looked up at each retry; use slog.New(slog.DiscardHandler) for none.
	// The default value is nil (slog.Default()).
	Logger *slog.Logger

	// OnRetry, if set, is called once per retry, before the sleep, with
	// what is logged; for metrics. It runs on the request's goroutine and
	// must not block. The default value is nil.
	OnRetry func(RetryEvent)

	// Sleep waits for d or until ctx is done, whichever comes first, and is
	// called once before every retry (also with d = 0). Tests inject one
	// that records d and returns at once. The default value is nil, a real
	// timer that a cancelled ctx interrupts at once.
	Sleep func(ctx context.Context, d time.Duration)

	// Now tells the time against which an HTTP-date Retry-After is
	// measured. The default value is nil (time.Now).
	Now func() time.Time
}

// RetryEvent describes one retry, for Config.OnRetry.
type RetryEvent struct {
	// Method is the request method.
	Method string
	// URL is the request URL without its userinfo (credentials).
	URL string
	// Attempt is the 1-based number of the attempt that failed; the next
	// attempt is Attempt+1.
	Attempt int
	// StatusCode is the status of the failed attempt, 0 if it had none.
	StatusCode int
	// Err is the error of the failed attempt, nil if it had a response.
	Err error
	// Delay is the sleep before the next attempt.
	Delay time.Duration
	// RetryAfter reports whether Delay came from a Retry-After header.
	RetryAfter bool
}

// settings is a validated Config with its defaults filled in.
type settings struct {
	retries       int
	factor        float64
	maxBackoff    time.Duration
	jitter        float64
	statuses      map[int]bool
	raStatuses    map[int]bool
	maxRetryAfter time.Duration
	methods       map[string]bool
	permanent     func(error) bool
	logger        *slog.Logger
	onRetry       func(RetryEvent)
	sleep         func(context.Context, time.Duration)
	now           func() time.Time
}

// resolve validates c and fills in its defaults.
func (c Config) resolve() (*settings, error) {
	s := &settings{
		retries:       c.Retries,
		factor:        c.BackoffFactor,
		maxBackoff:    c.MaxBackoff,
		jitter:        c.Jitter,
		maxRetryAfter: c.MaxRetryAfter,
		permanent:     c.Permanent,
		logger:        c.Logger,
		onRetry:       c.OnRetry,
		sleep:         c.Sleep,
		now:           c.Now,
	}
	switch {
	case c.Retries == 0:
		s.retries = DefaultRetries
	case c.Retries == NoRetries:
		s.retries = 0
	case c.Retries < 0:
		return nil, invalid("Retries", c.Retries, "must be >= 0, or NoRetries (-1)")
	}
	switch {
	case math.IsNaN(c.BackoffFactor) || math.IsInf(c.BackoffFactor, 0) || c.BackoffFactor < 0:
		return nil, invalid("BackoffFactor", c.BackoffFactor, "must be a finite number >= 0")
	case c.BackoffFactor == 0:
		s.factor = DefaultBackoffFactor
	}
	switch {
	case c.MaxBackoff < 0:
		return nil, invalid("MaxBackoff", c.MaxBackoff, "must be >= 0")
	case c.MaxBackoff == 0:
		s.maxBackoff = DefaultMaxBackoff
	}
	if math.IsNaN(c.Jitter) || c.Jitter < 0 || c.Jitter > 1 {
		return nil, invalid("Jitter", c.Jitter, "must lie in [0, 1]")
	}
	switch {
	case c.MaxRetryAfter < 0:
		return nil, invalid("MaxRetryAfter", c.MaxRetryAfter, "must be >= 0")
	case c.MaxRetryAfter == 0:
		s.maxRetryAfter = DefaultMaxRetryAfter
	}
	var err error
	if s.statuses, err = statusSet("Statuses", c.Statuses, DefaultStatuses()); err != nil {
		return nil, err
	}
	if s.raStatuses, err = statusSet("RetryAfterStatuses", c.RetryAfterStatuses, DefaultRetryAfterStatuses()); err != nil {
		return nil, err
	}
	methods := c.Methods
	if methods == nil {
		methods = DefaultMethods()
	}
	s.methods = make(map[string]bool, len(methods)+1)
	for i, m := range methods {
		if !isToken(m) {
			return nil, invalid(fmt.Sprintf("Methods[%d]", i), fmt.Sprintf("%q", m), "must be an HTTP method token")
		}
		s.methods[m] = true
	}
	if c.RetryPOST {
		s.methods[http.MethodPost] = true
	}
	if s.sleep == nil {
		s.sleep = sleepContext
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// log returns the logger to write to: the configured one, else the default
// of the moment, so that a later slog.SetDefault is obeyed.
func (s *settings) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}

func statusSet(field string, codes, def []int) (map[int]bool, error) {
	if codes == nil {
		codes = def
	}
	set := make(map[int]bool, len(codes))
	for i, code := range codes {
		if code < 100 || code > 599 {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), code, "must lie in 100..599")
		}
		set[code] = true
	}
	return set, nil
}

func invalid(field string, value any, rule string) error {
	return fmt.Errorf("retrypolicy: invalid Config.%s %v: %s", field, value, rule)
}

// isToken reports whether m is an RFC 9110 token, the syntax of a method.
func isToken(m string) bool {
	if m == "" {
		return false
	}
	return !slices.ContainsFunc([]rune(m), func(r rune) bool {
		return r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	})
}

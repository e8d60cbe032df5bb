package retrypolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/failsafe-go/failsafe-go"
	failsaferetry "github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/sharedlimit/sharedlimit/internal/backoff"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// New returns a failsafe-go retry policy for HTTP responses configured by
// cfg, or an error naming the first invalid field of cfg.
//
// The policy decides what is retried (Config.Statuses, connection errors
// and timeouts; never Config.Permanent errors, the limiter's errors
// (limiter.IsPermanent), context.Canceled or certificate errors), how
// long to wait, logs every retry, drains and closes the body of every
// response it retries, and reports failsafe-go's ExceededError when the
// retries run out. It sleeps itself, through Config.Sleep, on the context
// of the failsafe execution: run it with the request's context
// (failsafe.With(p).WithContext(req.Context()), or failsafehttp) so that a
// cancelled request stops at once, even mid-sleep.
//
// The policy sees responses and errors, not requests: the method rule
// (Config.Methods) and the final *Error are NewTransport's, which most
// callers want instead.
func New(cfg Config) (failsaferetry.RetryPolicy[*http.Response], error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return s.policy(), nil
}

// policy builds the failsafe policy. failsafe-go sleeps between attempts on
// a time.Timer of its own, which no test can fake; so it is given no delay
// at all, and the sleep happens in the OnRetryScheduled listener, which
// failsafe calls synchronously just before its (now zero) timer. After the
// listener, failsafe checks the execution's context and stops if it ended.
func (s *settings) policy() failsaferetry.RetryPolicy[*http.Response] {
	return failsaferetry.NewBuilder[*http.Response]().
		HandleIf(s.retryable).
		WithMaxRetries(s.retries).
		OnRetryScheduled(s.beforeRetry).
		Build()
}

// retryable reports whether an attempt's outcome is a failure to retry.
// Whatever is not retryable is returned to the caller as it is.
func (s *settings) retryable(resp *http.Response, err error) bool {
	if err != nil {
		return s.retryableError(err)
	}
	return resp != nil && s.statuses[resp.StatusCode]
}

// retryableError reports whether err is worth another attempt. Like
// urllib3 and failsafehttp, every transport error is (refused or reset
// connections, DNS failures, timeouts, io.ErrUnexpectedEOF, ...) except
// those that another attempt cannot cure: Config.Permanent errors, the
// limiter's errors (limiter.IsPermanent: closed, store unavailable, slot
// past the deadline, ...), the end of the request's own context.
//
// context.DeadlineExceeded of an attempt's own timeout is retried, as a
// timeout; under NewTransport, an attempt that ends with the request's
// context is not (see contextEnded), and under New the failsafe execution
// runs on that context and stops by itself.
func (s *settings) retryableError(err error) bool {
	if s.permanent != nil && s.permanent(err) {
		return false
	}
	var (
		ended     *contextEnded
		bodyErr   *bodyError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, context.Canceled),
		errors.As(err, &ended),
		limiter.IsPermanent(err),
		errors.As(err, &bodyErr),
		errors.As(err, &authority),
		errors.As(err, &invalid),
		errors.As(err, &hostname),
		errors.As(err, &verify),
		strings.Contains(err.Error(), "unsupported protocol scheme"):
		return false
	}
	return true
}

// beforeRetry runs between a failed attempt and the next one: it picks the
// delay, releases the failed response's connection, logs, calls OnRetry
// and sleeps.
func (s *settings) beforeRetry(e failsafe.ExecutionScheduledEvent[*http.Response]) {
	ctx := e.Context()
	resp := e.LastResult()
	ev := RetryEvent{Attempt: e.Attempts()}
	ev.Method, ev.URL = describe(ctx, resp)
	ev.Delay = s.backoff(ev.Attempt, rand.Float64())
	if resp != nil {
		ev.StatusCode = resp.StatusCode
		if s.raStatuses[resp.StatusCode] {
			if wait, ok := retryAfter(resp.Header, s.now()); ok {
				ev.Delay, ev.RetryAfter = min(wait, s.maxRetryAfter), true
			}
		}
		drainClose(resp.Body)
	} else {
		ev.Err = e.LastError()
	}

	attrs := []slog.Attr{
		slog.String("method", ev.Method),
		slog.String("url", ev.URL),
		slog.Int("attempt", ev.Attempt),
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", ev.StatusCode))
	}
	attrs = append(attrs, slog.Duration("delay", ev.Delay), slog.Bool("retry_after", ev.RetryAfter))
	s.log().LogAttrs(ctx, slog.LevelWarn, "retrypolicy: retrying request", attrs...)

	if s.onRetry != nil {
		s.onRetry(ev)
	}
	s.sleep(ctx, ev.Delay)
}

// backoff returns the sleep before retry number retry (1-based), urllib3's
// factor * 2^(retry-1) with none before the first retry, varied by the
// jitter (r is uniform in [0, 1)) and capped by MaxBackoff.
func (s *settings) backoff(retry int, r float64) time.Duration {
	if retry <= 1 {
		return 0
	}
	secs := math.Ldexp(s.factor, retry-1)
	secs *= 1 + s.jitter*(2*r-1)
	if secs >= s.maxBackoff.Seconds() {
		return s.maxBackoff
	}
	return time.Duration(secs * float64(time.Second))
}

// sleepContext is the production Config.Sleep: it waits for d, or returns
// as soon as ctx is done (the module's one context-aware sleep).
func sleepContext(ctx context.Context, d time.Duration) { _ = backoff.Sleep(ctx, d) }

// describe returns the method and redacted URL of the request being
// retried: from the transport's call record, else from the response.
func describe(ctx context.Context, resp *http.Response) (method, url string) {
	if c := callFrom(ctx); c != nil {
		return c.method, c.url
	}
	if resp != nil && resp.Request != nil {
		return resp.Request.Method, redact(resp.Request.URL)
	}
	return "", ""
}

package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// wrap turns an error of a Redis call made for op into the Limiter's error.
// When the caller's own context ended, that is the error. Anything else
// (network, timeout, a refusing server) means the store could not decide:
// an *limiter.UnavailableError, with any password masked.
func (l *store) wrap(op string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("limiter: redis %s: %w", op, cerr)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// The socket deadline (the caller's) fired before the
		// context's timer did.
		return fmt.Errorf("limiter: redis %s: %w", op, context.DeadlineExceeded)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		// Our per-call timeout, not the caller's deadline: it must not
		// look like the caller's context ended.
		err = &timeoutError{d: l.timeout, msg: err.Error()}
	}
	return &limiter.UnavailableError{Op: "redis " + op, Err: l.redact(err)}
}

// redact returns err, or a copy of its text with every known password
// masked when it contains one.
func (l *store) redact(err error) error {
	return redact.Error(err, l.secrets)
}

// timeoutError is a Redis call that got no answer within the Limiter's
// timeout.
type timeoutError struct {
	d   time.Duration
	msg string
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer from Redis within %s (%s)", e.d, e.msg)
}

// Timeout reports true, as net.Error does for timeouts.
func (e *timeoutError) Timeout() bool { return true }

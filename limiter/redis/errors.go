package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// wrap turns an error of a Redis call made for op on Redis key rkey into
// the Limiter's error. When the caller's own context ended, that is the
// error. A key of another type under our name is a *WrongTypeError, which
// no retry cures. Anything else (network, timeout, a refusing server)
// means the store could not decide: an *limiter.UnavailableError, with any
// password masked.
func (s *store) wrap(op, rkey string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("limiter: redis %s: %w", op, cerr)
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) && strings.Contains(err.Error(), "WRONGTYPE") {
		return &WrongTypeError{Op: op, Key: rkey, Err: s.redact(err)}
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
		err = &timeoutError{d: s.timeout, msg: err.Error()}
	}
	return &limiter.UnavailableError{Op: "redis " + op, Err: s.redact(err)}
}

// redact returns err, or a copy of its text with every known password
// masked when it contains one.
func (s *store) redact(err error) error {
	return redact.Error(err, s.secrets)
}

// WrongTypeError is the error of a call whose Redis key holds a value of
// another type than this package's string (a hash, a list, ...): another
// program uses the name. Retrying cannot cure it, so it matches
// limiter.ErrInvalidArgument (and limiter.IsPermanent), not
// limiter.ErrUnavailable. Delete the key or choose another prefix.
type WrongTypeError struct {
	// Op is the operation, such as "AllowN".
	Op string
	// Key is the Redis key, such as "rate:{app:k}" (the keys of a
	// request of several needs, joined by ", ").
	Key string
	// Err is Redis's error; it never holds a password.
	Err error
}

// Error names the key and what to do.
func (e *WrongTypeError) Error() string {
	return fmt.Sprintf("limiter: redis %s: key %q holds a value of another type, not a limit of this package "+
		"(another program uses the name: delete the key or choose another prefix): %v", e.Op, e.Key, e.Err)
}

// Is reports whether target is limiter.ErrInvalidArgument.
func (e *WrongTypeError) Is(target error) bool { return target == limiter.ErrInvalidArgument }

// Unwrap returns Redis's error.
func (e *WrongTypeError) Unwrap() error { return e.Err }

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

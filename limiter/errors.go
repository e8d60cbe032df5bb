package limiter

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on with errors.Is. Errors from this package and its
// backends start with "limiter:".
var (
	// ErrClosed is returned by every call on a closed Limiter, and by Waits
	// that were in flight when it was closed.
	ErrClosed = errors.New("limiter: closed")
	// ErrExceedsBurst is returned when n is larger than the Limit's Burst:
	// such a request can never succeed, so it gets no retry-after.
	ErrExceedsBurst = errors.New("limiter: n exceeds burst")
	// ErrUnavailable is returned when the store cannot be reached within
	// the time the Limiter allows for it.
	ErrUnavailable = errors.New("limiter: store unavailable")
	// ErrUnknownScheme is returned by Open for a URL scheme that no backend
	// registered.
	ErrUnknownScheme = errors.New("limiter: unknown scheme")
	// ErrInvalidLimit is matched by the errors of [Limit.Validate].
	ErrInvalidLimit = errors.New("limiter: invalid limit")
	// ErrInvalidArgument is matched by errors for an empty key, n <= 0, a
	// negative wait or hold, or a malformed URL.
	ErrInvalidArgument = errors.New("limiter: invalid argument")
	// ErrSlotTooLate is matched by the error of Wait when the slot would
	// come after the context's deadline. That error also matches
	// context.DeadlineExceeded.
	ErrSlotTooLate = errors.New("limiter: slot would come after the deadline")
)

// ExceedsBurstError is the error for n larger than the Limit's Burst. It
// matches [ErrExceedsBurst].
type ExceedsBurstError struct {
	// Key is the limit key of the request.
	Key string
	// N is the number of tokens asked for.
	N int
	// Limit is the limit whose Burst N exceeds.
	Limit Limit
	// Need and Of are, in a request of several needs, the index of the
	// need and the number of needs (both 0 for a request of one).
	Need, Of int
}

// Error says what was asked and the burst it exceeds.
func (e *ExceedsBurstError) Error() string {
	where := ""
	if e.Of > 1 {
		where = fmt.Sprintf(" (need %d of %d)", e.Need, e.Of)
	}
	return fmt.Sprintf("limiter: n=%d exceeds burst %d of %s for key %q%s: it can never be admitted",
		e.N, e.Limit.Burst, e.Limit, e.Key, where)
}

// Is reports whether target is ErrExceedsBurst.
func (e *ExceedsBurstError) Is(target error) bool { return target == ErrExceedsBurst }

// DeadlineError is returned by Wait when the slot would come after the
// context's deadline; nothing was taken. It matches both [ErrSlotTooLate]
// and context.DeadlineExceeded.
type DeadlineError struct {
	// Key is the limit key of the request.
	Key string
	// N is the number of tokens asked for.
	N int
	// Needed is the wait the slot would have required.
	Needed time.Duration
	// Left is what was left until the deadline.
	Left time.Duration
}

// Error says how far the slot was and how far the deadline.
func (e *DeadlineError) Error() string {
	return fmt.Sprintf("limiter: Wait(n=%d) for key %q: slot in %s would exceed the context deadline (in %s)",
		e.N, e.Key, e.Needed, e.Left)
}

// Is reports whether target is ErrSlotTooLate or context.DeadlineExceeded.
func (e *DeadlineError) Is(target error) bool {
	return target == ErrSlotTooLate || target == context.DeadlineExceeded
}

// UnavailableError wraps the store's error after the Limiter gave up on the
// store. It matches [ErrUnavailable] and unwraps to the cause.
type UnavailableError struct {
	// Op is the operation, such as "AllowN".
	Op string
	// Err is the last error from the store; it never holds a password.
	Err error
}

// Error names the operation and the store's error.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("limiter: store unavailable in %s: %v", e.Op, e.Err)
}

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the store's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a limiter error that retrying the same
// request cannot cure: closed, n larger than the burst, a slot too late,
// store unavailable, invalid limit or argument. Retry policies use it to
// stop at once.
func IsPermanent(err error) bool {
	for _, target := range []error{ErrClosed, ErrExceedsBurst, ErrSlotTooLate, ErrUnavailable, ErrInvalidLimit, ErrInvalidArgument, ErrUnknownScheme} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

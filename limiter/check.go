package limiter

import (
	"fmt"
	"time"
)

// CheckArgs validates the arguments every Limiter call shares: a non-empty
// key, a valid limit and 1 <= n <= limit.Burst. Backends call it first, so
// that every backend rejects bad input with the same errors.
func CheckArgs(key string, limit Limit, n int) error {
	if key == "" {
		return fmt.Errorf("limiter: empty key: %w", ErrInvalidArgument)
	}
	if err := limit.Validate(); err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("limiter: n must be >= 1, got %d (key %q): %w", n, key, ErrInvalidArgument)
	}
	if n > limit.Burst {
		return &ExceedsBurstError{Key: key, N: n, Limit: limit}
	}
	return nil
}

// CheckKey validates a key for calls that take no limit (Reset).
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("limiter: empty key: %w", ErrInvalidArgument)
	}
	return nil
}

// CheckHold validates the arguments of Hold.
func CheckHold(key string, limit Limit, d time.Duration) error {
	if err := CheckArgs(key, limit, 1); err != nil {
		return err
	}
	if d < 0 || d > maxTolerance {
		return fmt.Errorf("limiter: Hold duration must be between 0 and %s, got %s (key %q): %w", maxTolerance, d, key, ErrInvalidArgument)
	}
	return nil
}

// CheckMaxWait validates the maxWait of ReserveN.
func CheckMaxWait(maxWait time.Duration) error {
	if maxWait < 0 {
		return fmt.Errorf("limiter: maxWait must be >= 0, got %s: %w", maxWait, ErrInvalidArgument)
	}
	return nil
}

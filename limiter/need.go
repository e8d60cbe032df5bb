package limiter

import (
	"fmt"
	"time"
)

// Need is N tokens of Key under Limit: one of the limits a request must
// pass. A request of several needs (see [Limiter.Allow]) takes from all of
// them at one instant, or from none.
type Need struct {
	// Key is the limit key; it must not be empty, and a request names
	// each key once.
	Key string
	// Limit is the limit of Key; it must be valid (see [Limit.Validate]).
	Limit Limit
	// N is the number of tokens, from 1 to Limit.Burst.
	N int
}

// NeedResult is what a decision left of one need's key.
type NeedResult struct {
	// Key is the need's key.
	Key string
	// Remaining is how many tokens of the need's Limit could still be
	// taken at once.
	Remaining int
	// ResetAfter is how long until the key's bucket is full again.
	ResetAfter time.Duration
}

// checkNeeds validates a request: one need at least; each with a key, a
// valid limit and 1 <= N <= Burst; no key twice. Errors name the need (by
// key, and by index when there are several) and match ErrInvalidArgument,
// ErrInvalidLimit or ErrExceedsBurst.
func checkNeeds(op string, needs []Need) error {
	if len(needs) == 0 {
		return fmt.Errorf("limiter: %s: a request needs at least one Need: %w", op, ErrInvalidArgument)
	}
	one := len(needs) == 1
	for i, nd := range needs {
		// where names the need in an error (formatted only then: a
		// valid request of several needs allocates nothing here).
		where := func() string {
			if one {
				return ""
			}
			return fmt.Sprintf(" (need %d of %d)", i, len(needs))
		}
		if nd.Key == "" {
			return fmt.Errorf("limiter: empty key%s: %w", where(), ErrInvalidArgument)
		}
		if err := nd.Limit.Validate(); err != nil {
			if one {
				return err
			}
			return fmt.Errorf("limiter: need %d of %d (key %q): %w", i, len(needs), nd.Key, err)
		}
		if nd.N <= 0 {
			return fmt.Errorf("limiter: n must be >= 1, got %d (key %q%s): %w", nd.N, nd.Key, where(), ErrInvalidArgument)
		}
		if nd.N > nd.Limit.Burst {
			e := &ExceedsBurstError{Key: nd.Key, N: nd.N, Limit: nd.Limit}
			if !one {
				e.Need, e.Of = i, len(needs)
			}
			return e
		}
		for j := range i {
			if needs[j].Key == nd.Key {
				return fmt.Errorf("limiter: key %q is named twice in one request (needs %d and %d): merge them into one need: %w",
					nd.Key, j, i, ErrInvalidArgument)
			}
		}
	}
	return nil
}

// checkOne is checkNeeds of one need, without building the request.
func checkOne(key string, limit Limit, n int) error {
	if key != "" && n >= 1 && n <= limit.Burst && limit.Validate() == nil {
		return nil
	}
	return checkNeeds("AllowN", []Need{{Key: key, Limit: limit, N: n}})
}

// checkKey validates a key for calls that take no limit (Reset).
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("limiter: empty key: %w", ErrInvalidArgument)
	}
	return nil
}

// checkHold validates the arguments of Hold.
func checkHold(key string, limit Limit, d time.Duration) error {
	if err := checkNeeds("Hold", []Need{{Key: key, Limit: limit, N: 1}}); err != nil {
		return err
	}
	if d < 0 || d > maxTolerance {
		return fmt.Errorf("limiter: Hold duration must be between 0 and %s, got %s (key %q): %w", maxTolerance, d, key, ErrInvalidArgument)
	}
	return nil
}

// checkMaxWait validates the maxWait of a reservation.
func checkMaxWait(maxWait time.Duration) error {
	if maxWait < 0 {
		return fmt.Errorf("limiter: maxWait must be >= 0, got %s: %w", maxWait, ErrInvalidArgument)
	}
	return nil
}

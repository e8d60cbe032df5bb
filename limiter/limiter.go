package limiter

import (
	"context"
	"time"
)

// Limiter is a handle on a rate limit store. Every method is safe for
// concurrent use, takes its context first, and carries the Limit it applies
// (the store keeps only a timestamp per key, so two callers may use
// different limits on one key, though they rarely should).
//
// Most callers want the package function [Wait] (or [WaitAll] for a
// request of several limits). AllowN is the immediate decision, for work
// that would rather be dropped than delayed. ReserveN is the primitive
// under Wait: one round trip takes a FIFO slot and tells how long to sleep
// until it.
//
// A request may pass several limits at once (see [Need]): Allow and
// Reserve take every need's tokens at one instant, in one atomic step of
// the store, or none. AllowN and ReserveN are the requests of one need.
//
// Every method fails with an error matching [ErrClosed] after Close, and
// with one matching [ErrExceedsBurst] when n exceeds the Limit's Burst.
//
// Backends implement [github.com/sharedlimit/sharedlimit/limiter/driver.Store] and return a [Handle], which
// implements Limiter; a program may implement Limiter itself to wrap one.
type Limiter interface {
	// AllowN takes n tokens for key now, or takes nothing and reports when
	// to try again. It is shorthand for Allow(ctx, Need{key, limit, n}),
	// but for its Result's Needs, which it leaves nil (Remaining and
	// ResetAfter are the one need's).
	AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error)

	// ReserveN takes a slot for n tokens for key when the slot comes
	// within maxWait, and reports how long to wait for it. A slot further
	// away is refused (Reservation.OK false) and nothing is taken. A
	// granted slot that will not be used must be cancelled. It is
	// shorthand for Reserve(ctx, maxWait, Need{key, limit, n}), but for
	// the Reservation's Needs, which it leaves nil.
	ReserveN(ctx context.Context, key string, limit Limit, n int, maxWait time.Duration) (*Reservation, error)

	// Allow takes every need's tokens now, or takes nothing and reports
	// when to try again: the wait of the binding need, the one whose own
	// earliest slot is latest.
	Allow(ctx context.Context, needs ...Need) (Result, error)

	// Reserve takes one slot for every need's tokens when it comes within
	// maxWait: the latest of the needs' own earliest slots. Each key is
	// charged from that slot, so a key that could have gone earlier loses
	// the capacity between its own slot and the request's (charging it
	// earlier would let two requests share an instant). A slot further
	// away is refused and nothing is taken.
	Reserve(ctx context.Context, maxWait time.Duration, needs ...Need) (*Reservation, error)

	// Hold stops key from admitting anything for d, then lets it resume at
	// the steady rate (not with a burst). Slots granted before the Hold
	// keep their times. It is what a server's "slow down" (429 with
	// Retry-After) calls for.
	Hold(ctx context.Context, key string, limit Limit, d time.Duration) error

	// Reset forgets key: the next request of every handle finds a full
	// bucket. Slots reserved before the Reset keep their times (their
	// waiters still go), and their cancels no longer give anything back.
	Reset(ctx context.Context, key string) error

	// Status reports the state of key under limit without changing it.
	Status(ctx context.Context, key string, limit Limit) (Status, error)

	// Done returns a channel that is closed when Close is called, so that
	// waiters can stop and give their slots back.
	Done() <-chan struct{}

	// Close releases the handle. The slots of Waits in flight are given
	// back, newest first so that their cancels chain, then those Waits
	// return [ErrClosed], before the store is released. Clients the
	// caller passed in are not closed. Close is idempotent.
	Close() error
}

// Result is an immediate decision.
type Result struct {
	// Allowed reports whether the tokens were taken.
	Allowed bool
	// Remaining is how many tokens of the binding need could still be
	// taken at once.
	Remaining int
	// RetryAfter is, when not Allowed, how long until the same request
	// would be allowed: the binding need's wait. It is zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the binding need's bucket is full
	// again.
	ResetAfter time.Duration
	// Binding is the index of the binding need: the one whose own
	// earliest slot is latest, the first on a tie (0 for one need).
	Binding int
	// Needs holds what the decision left of every need's key, in the
	// request's order; nil from AllowN.
	Needs []NeedResult
}

// Status is what a store says of a key, without changing it.
type Status struct {
	// Remaining is how many tokens could be taken now.
	Remaining int
	// NextAfter is how long until the next token is available; zero when
	// Remaining > 0.
	NextAfter time.Duration
	// FullAfter is how long until the bucket is full (Remaining == Burst).
	FullAfter time.Duration
}

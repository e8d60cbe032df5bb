package driver

import (
	"context"
	"strconv"
)

// Store is what a backend implements: one deciding operation on a batch of
// requests, and Close. [limiter.NewHandle] turns a Store into a Limiter,
// doing once, for every backend, what is portable: argument checks,
// lifecycle and Close, the slots of Waits given back on Close, the failure
// policy, observers and Wait.
//
// The core calls Do only with valid requests: every key non-empty and
// unique within its request, 1 <= N with N*T <= Tau, T >= 1, MaxWait >= 0,
// Hold >= 0 (see [Request]). It may call Do from several goroutines at
// once. Close gives the reservations of Waits back before it closes the
// store, but a caller's own Cancel racing with Close may still reach Do
// after Close: a store that released its connection then answers with an
// error matching limiter.ErrClosed (one that holds nothing to release, as
// the in-process store, may simply answer).
type Store interface {
	// Do decides the requests of batch in order, each one atomically and
	// as if it were alone, and writes the answer of batch[i] into
	// answers[i] (len(answers) == len(batch); the core zeroes them).
	//
	// An error from Do is the whole batch's: its requests may or may not
	// have taken effect. A store that cannot answer (down, timed out,
	// busy past its timeout) returns an error matching
	// limiter.ErrUnavailable, which the failure policy retries or falls
	// back from; any other error reaches the caller as it is. An error
	// that belongs to one request only (its keys cannot share one atomic
	// step, say) goes into that request's Answer.Err. Errors must never
	// hold a password.
	Do(ctx context.Context, batch []Request, answers []Answer) error

	// Close releases the store. The core calls it once, after the slots
	// of Waits in flight were given back.
	Close() error
}

// Op is what a [Request] asks.
type Op uint8

// The operations of a Request.
const (
	// Allow takes every need's tokens now, or nothing (MaxWait unused).
	// A granted Allow cannot be cancelled: its Answer carries no Undo.
	Allow Op = iota + 1
	// Reserve takes every need's tokens at the request's slot when the
	// slot comes within MaxWait, or nothing.
	Reserve
	// Hold holds the key of its one need for Hold microseconds: tat =
	// max(tat + 1, now + Hold + Tau - T).
	Hold
	// Status reports the key of its one need without changing it.
	Status
	// Reset forgets the key of its one need (only Key is set).
	Reset
	// Cancel gives back the reservation whose Answer.Undo it carries:
	// every key whose stored value is still the one that reservation
	// wrote gets back the exact value it replaced; other keys are left
	// alone.
	Cancel
)

var opNames = [...]string{"", "Allow", "Reserve", "Hold", "Status", "Reset", "Cancel"}

// String is the operation's name, such as "Reserve".
func (o Op) String() string {
	if int(o) < len(opNames) && o > 0 {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Need is N tokens of Key under a limit whose emission interval is T and
// tolerance Tau (Burst*T), in integer microseconds.
type Need struct {
	// Key is the caller's key; the Store maps it to its own names.
	Key string
	// N is the number of tokens, at least 1 (unused by Hold and Status).
	N int64
	// T is the emission interval, at least 1.
	T int64
	// Tau is the tolerance, Burst*T, at least N*T.
	Tau int64
}

// Request is one caller's request in a batch.
type Request struct {
	// Op is what the request asks.
	Op Op
	// Needs are the request's needs: one or more for Allow and Reserve,
	// exactly one for Hold, Status and Reset, none for Cancel.
	Needs []Need
	// MaxWait is, for Reserve, the longest wait in microseconds that the
	// request takes a slot for.
	MaxWait int64
	// Hold is, for Hold, how long the key is held, in microseconds.
	Hold int64
	// Undo is, for Cancel, the Undo of the Answer that granted the
	// reservation.
	Undo any
}

// Answer is a Store's answer to one Request.
//
// With the GCRA of every backend: each need i allows a send at s_i =
// max(now, tat_i + N_i*T_i - Tau_i); the request's slot is s = max_i s_i
// and its wait s - now. Granted (Allow: wait 0; Reserve: wait <= MaxWait),
// every key stores tat_i = max(tat_i, s) + N_i*T_i; refused, nothing is
// stored.
type Answer struct {
	// OK reports, for Allow and Reserve, whether the tokens were taken;
	// for Cancel, whether any key was given back.
	OK bool
	// Wait is, for a granted Reserve, the wait until the slot.
	Wait int64
	// RetryAfter is, for a refused Allow or Reserve, the wait the
	// request's slot would have needed.
	RetryAfter int64
	// Binding is the index of the binding need: the one whose own
	// earliest slot s_i is latest, the first on a tie.
	Binding int
	// Needs holds, for Allow, Reserve and Status, one answer per need in
	// the request's order.
	Needs []NeedAnswer
	// Order is, for a granted Reserve, a number that never decreases
	// with the grants on each of its keys, in the store's order: Close
	// gives slots back in decreasing Order (the later pinned first among
	// equals), so that the cancels of a handle's queue chain. The store's
	// clock at the decision qualifies, or a write sequence
	// (internal/memstore's). The binding key's new tat (gcra.Take's) does
	// for requests of one need only: a later composite may bind on a key
	// whose tat is lower than an earlier one's binding tat.
	Order int64
	// Undo is, for a granted Reserve, what a Cancel request needs to give
	// the reservation back: the tokens of its writes and the values they
	// replaced. The core does not look into it.
	Undo any
	// Err is the request's own error, when the batch went through but
	// this request could not (the batch's error is Do's).
	Err error
}

// NeedAnswer is what a Store says of one need's key, in microseconds.
type NeedAnswer struct {
	// Remaining is how many tokens of the need's limit could be taken
	// at once after the request: max(0, floor((Tau - (tat - now)) / T))
	// with the tat the request left.
	Remaining int64
	// ResetAfter is how long until the key is full again: max(tat, now)
	// - now with the tat the request left. For Status it is the key's
	// FullAfter.
	ResetAfter int64
	// NextAfter is, for Status, how long until the next token: max(0,
	// max(tat, now) + T - now - Tau).
	NextAfter int64
}

// OneAllower is an optional capability of a Store whose decision costs
// less than a batch's bookkeeping (the in-process store): the core calls
// AllowOne, not Do, for an Allow of one need. It must decide exactly as Do
// would decide a batch of that one request.
type OneAllower interface {
	// AllowOne takes nd.N tokens of nd.Key now, or nothing. It reports
	// whether it took them, what it left of the key, and, refused, the
	// wait the request would have needed.
	AllowOne(ctx context.Context, nd Need) (ok bool, a NeedAnswer, retryAfter int64, err error)
}

// NeedsAllower is OneAllower's counterpart for an Allow of several needs
// (the in-process store): the core calls AllowNeeds, not Do, for it. It
// must decide exactly as Do would decide a batch of that one request,
// answering into a as Do answers (a.Needs has room for every need).
type NeedsAllower interface {
	AllowNeeds(ctx context.Context, needs []Need, a *Answer) error
}

// Checker is an optional capability of a Store that can tell, without a
// round trip, that it could never decide a request (the keys of a request
// in different hash slots of a Redis Cluster): the core calls Check before
// it decides a request of several needs, whatever the failure policy's
// state, so that such a request fails the same way while the store is down
// and up. An error must name the request's keys and say how to fix it.
type Checker interface {
	Check(r *Request) error
}

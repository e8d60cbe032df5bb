// Package limiter is one rate limit shared by every goroutine, process and
// host that uses the same store.
//
// A [Limiter] is a handle on a store (memory, SQLite, Redis) that keeps one
// value per key, the theoretical arrival time of the generic cell rate
// algorithm (GCRA). Every call carries its [Limit]: the store says where the
// state lives, not what the limit is. All backends implement the same
// arithmetic, so a program moves from one store to another by changing a URL
// given to [Open].
//
// Most callers want [Wait]: it takes a FIFO slot with one round trip to the
// store, sleeps exactly until the slot, and gives the slot back when the
// context ends first. [Limiter.AllowN] is the immediate decision, for callers
// that would rather drop work than wait. [Transport] applies a limit to every
// attempt of an HTTP client.
//
// A request may have to pass several limits at once (an API's requests per
// minute and its weight per minute, per IP and per account): it names its
// [Need]s, and [WaitAll], [Limiter.Allow] and [Limiter.Reserve] take every
// need's tokens at one instant, in one atomic step of the store, or none.
// The one-need calls are shorthands for requests of one need.
//
// Backends implement a small store interface (package limiter/driver);
// [NewHandle] makes one a Limiter, doing the portable work once.
//
// Burst, worked out: PerSecond(2) (Burst 1) admits at 0, 0.5, 1.0, 1.5 s and
// so on, never more than 2 in any 1 s window. With Burst 2 it admits at 0, 0,
// 0.5, 1.0 s: 3 in the first second. In any half-open window of length t a
// limit admits at most ceil(Rate*t/Period) + Burst - 1 events.
package limiter

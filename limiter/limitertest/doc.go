// Package limitertest is the conformance suite every limiter backend
// passes: the GCRA formulas (internal/gcra) as step tables, sharing across handles,
// concurrency within the promised bound, FIFO reservations, cancels that
// never over-admit (after a later slot, a Hold, or a Reset whose new
// reservations rebuild the cancelled value) and that chain newest first,
// random mixes of reservations, cancels in any order, Holds, Resets and
// clock steps on three handles (no slot granted twice), a
// Reset that empties every handle's queue, Hold, Wait, Close (which gives
// the slots of waiting Waits back) and bad input; and requests of several
// needs: step tables of the binding need (the first on a tie), refusals
// that take nothing, reservations that charge every key from their slot,
// partial cancels and cancels chaining across requests, bad input naming
// the need, a mixed load over overlapping keys of different limits (every
// key within its bound in every window) and a load bound by one limit
// (used at 99 %). A backend calls [Run]
// and [Benchmark] from its own tests with a [Harness].
//
// [CheckWindows] and [CheckUsage] check recorded admission times against the
// promise "never more than ceil(Rate*t/Period) + Burst - 1 in any half-open
// window of length t, and at least 99 % of it used"; multi-process tests
// use them too. [CheckSpans] and [CheckSpanUsage] do the same for
// admissions known only to lie within a [Span] (real-clock runs, see
// [WaitSpan]), with no tolerance.
package limitertest

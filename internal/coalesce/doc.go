// Package coalesce groups the concurrent requests of one handle into
// batches, so that a store decides many callers' requests in one round trip
// (one Redis script call, one SQLite transaction), as databases group their
// commits.
//
// A call that finds nothing in flight goes at once, on its own goroutine,
// through the store's Do: nothing is added when the handle is idle. Calls
// arriving while one is in flight queue, in arrival order, and go together
// as the next batch (up to a bounded size) when it returns. One batch is in
// flight at a time, so that batches touching one key reach the store in
// order and FIFO holds within and across batches.
//
// A caller whose context ends while queued is taken out and never sent; one
// whose request was sent returns at once with its context's error, and a
// reservation it can no longer use is cancelled by the next batch. A failed
// batch gives every caller in it the store's error; the core's failure
// policy then applies per caller.
package coalesce

// Package lifecycle implements Close for the backends: after Close starts,
// new calls fail with limiter.ErrClosed; calls in flight and reservations
// whose slots are still ahead (pins) may finish, so that waiters can give
// their slots back before the store is released.
package lifecycle

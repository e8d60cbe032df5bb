// Package driver is the interface a rate limit store implements, for
// backend authors; users hold a [limiter.Limiter] and need none of it.
//
// A backend implements [Store], one deciding operation on a batch of
// requests (each of one or more needs) in integer microseconds, and wraps
// it with [limiter.NewHandle], which does the portable work once. Several
// callers' requests may share one batch, so that a store can decide them
// in one round trip.
//
// [limiter.Limiter]: https://pkg.go.dev/github.com/sharedlimit/sharedlimit/limiter#Limiter
// [limiter.NewHandle]: https://pkg.go.dev/github.com/sharedlimit/sharedlimit/limiter#NewHandle
package driver

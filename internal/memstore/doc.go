// Package memstore is the in-process store: a map of keys to their tat
// behind one mutex. limiter/memory wraps it for users, and the core falls
// back on one under limiter.FailFallback; it imports no backend.
//
// Idle keys leave by an incremental sweep: each write looks at the next
// two keys of a list of every key held, in turn, and forgets those whose
// tat is behind now. No call pays for more than that, whatever the number
// of keys, and there is no goroutine to stop.
package memstore

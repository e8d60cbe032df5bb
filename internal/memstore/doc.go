// Package memstore is the in-process store: a map of keys to their tat
// behind one mutex. limiter/memory wraps it for users, and the core falls
// back on one under limiter.FailFallback; it imports no backend.
package memstore

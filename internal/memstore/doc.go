// Package memstore is the in-process store: the keys' tats behind one
// mutex. limiter/memory wraps it for users, and the core falls back on one
// under limiter.FailFallback; it imports no backend.
//
// No call pays for more than a bounded amount of work, whatever the number
// of keys, and there is no goroutine to stop:
//   - the keys and their values are in a paged list (slots.go), which
//     grows without copying;
//   - an open-addressing table of one word per key finds a key's place
//     (index.go, table.go); it doubles in steps, a page and a few cells per
//     write, never at once;
//   - the keys' bytes are in chunks the garbage collector does not scan
//     (keys.go), so that a million keys are a few hundred objects to it,
//     not a million strings to mark on every cycle;
//   - idle keys leave by an incremental sweep: each write looks at the
//     next four keys of the list, in turn, and forgets those whose tat is
//     behind now; the same pass copies the live keys out of chunks that
//     hold mostly removed ones, so that those chunks can be freed.
package memstore

// Package sqlite is the default backend of package limiter (URL
// "sqlite:///abs/path"): one SQLite file shared by every process of one host,
// through modernc.org/sqlite (no cgo).
//
// The file holds one row per key: the GCRA theoretical arrival time, the
// host clock of the row's last write and the token of that write, which a
// reservation's cancel compares (so a cancel never takes a later write for
// its own). Every decision is made in an immediate write transaction, so
// two processes never lose each other's updates; a request of several needs
// reads and writes all its keys in that one transaction, so another handle
// sees all of its writes or none, and a refused one takes nothing. Status
// reads without the write lock.
//
// Concurrent calls on one handle are coalesced (see [WithCoalescing]): the
// calls arriving while a transaction is in flight go together in the next
// one, which reads each of their keys once, decides every request in
// memory in arrival order exactly as alone, and writes each key it changed
// once.
//
// Idle rows are deleted in the background (see [WithCleanupInterval]): by
// one handle of all those on the file at a time, a few hundred keys per
// short transaction of its own, never inside a call's, so that a call
// waits for one of them at most, however many rows the file holds.
//
// A write lock that another process holds past the busy timeout (see
// [WithBusyTimeout]) is the file's unavailability: the failure policy (see
// [WithPolicy]) waits for it, admits without it, or falls back.
//
// The host clock, on Linux, is CLOCK_BOOTTIME anchored to the Unix epoch
// once per boot (the boot id and the offset are stored in the file), so a
// wall clock stepped either way while the host runs changes nothing.
// Elsewhere, or when the boot clock cannot be read, it is the wall clock. On
// either clock, when it is more than a second behind the last write of a row
// (a reboot after the wall clock went back, or a wall-clock step back), the
// row is shifted back by the difference instead of blocking until the old
// clock comes round again; on the wall clock, a step forward lets slots
// queued before it be granted again.
//
// Use it on local disks only: SQLite's locks are not reliable on network
// file systems (NFS, SMB), and a limit shared across hosts needs the Redis
// backend.
package sqlite

// Package sqlite is the default backend of package limiter (URL
// "sqlite:///abs/path"): one SQLite file shared by every process of one host,
// through modernc.org/sqlite (no cgo).
//
// The file holds one row per key: the GCRA theoretical arrival time and the
// host clock of the row's last write. Every decision is one immediate write
// transaction, so two processes never lose each other's updates. The clock
// is the host's wall clock; when it is more than a second behind the last
// write of a row, the clock went back and the row is shifted back by the
// difference instead of blocking until the old clock comes round again.
//
// Use it on local disks only: SQLite's locks are not reliable on network
// file systems (NFS, SMB), and a limit shared across hosts needs the Redis
// backend.
package sqlite

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// table holds one row per key. tat is the GCRA theoretical arrival time and
// at the host clock of the row's last write, both in µs since the Unix
// epoch. The name carries the schema version.
const table = "sharedlimit_gcra_v1"

// setup is run once per connection, in order. auto_vacuum must come before
// the first write to a new file; journal_mode=WAL lets readers run beside
// the writer and makes commits cheap; synchronous=NORMAL is safe in WAL
// mode (a power loss may forget the last commits, never corrupt the file).
var setup = []string{
	"PRAGMA busy_timeout = 0", // waits for the lock are ours: see (*Limiter).do
	"PRAGMA auto_vacuum = INCREMENTAL",
	"PRAGMA journal_mode = WAL",
	"PRAGMA synchronous = NORMAL",
	"CREATE TABLE IF NOT EXISTS " + table + ` (
		key TEXT PRIMARY KEY NOT NULL,
		tat INTEGER NOT NULL,
		at INTEGER NOT NULL
	) WITHOUT ROWID`,
}

// The statements of the hot path, prepared once per handle.
const (
	qBegin    = "BEGIN IMMEDIATE"
	qCommit   = "COMMIT"
	qRollback = "ROLLBACK"
	qGet      = "SELECT tat, at FROM " + table + " WHERE key = ?1"
	qPut      = "INSERT INTO " + table + " (key, tat, at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, at = excluded.at"
	qCancel   = "UPDATE " + table + " SET tat = tat - ?2 WHERE key = ?1 AND tat = ?3"
	qReset    = "DELETE FROM " + table + " WHERE key = ?1"
	// qSweep deletes idle rows: tat at or before now, on the clock of the
	// row (see rebase: a shifted row is idle when tat <= at).
	qSweep  = "DELETE FROM " + table + " WHERE CASE WHEN at - ?1 > ?2 THEN tat <= at ELSE tat <= ?1 END"
	qVacuum = "PRAGMA incremental_vacuum"
)

// stmts are the prepared statements of one connection.
type stmts struct {
	begin, commit, rollback, get, put, cancel, reset, sweep, vacuum *sql.Stmt
}

func prepare(ctx context.Context, c *sql.Conn) (*stmts, error) {
	s := &stmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&s.begin, qBegin}, {&s.commit, qCommit}, {&s.rollback, qRollback},
		{&s.get, qGet}, {&s.put, qPut}, {&s.cancel, qCancel}, {&s.reset, qReset},
		{&s.sweep, qSweep}, {&s.vacuum, qVacuum},
	} {
		st, err := c.PrepareContext(ctx, p.q)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.dst = st
	}
	return s, nil
}

func (s *stmts) close() {
	for _, st := range []*sql.Stmt{s.begin, s.commit, s.rollback, s.get, s.put, s.cancel, s.reset, s.sweep, s.vacuum} {
		if st != nil {
			st.Close()
		}
	}
}

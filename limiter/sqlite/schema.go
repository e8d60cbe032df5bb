package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// table holds one row per key. tat is the GCRA theoretical arrival time and
// at the host clock of the row's last write, both in µs since the Unix
// epoch (see clock.go); tok is the token of the last write, which a cancel
// compares (0 in rows written by releases before tokens). The name carries
// the schema version: tok was added to v1 in place (ALTER TABLE ... ADD
// COLUMN), so that the previous release, which reads and writes tat and at
// only, shares the table during a rolling deploy.
const table = "sharedlimit_gcra_v1"

// clockTable holds one row: the boot the host clock offset was taken in,
// and the offset, in µs, from CLOCK_BOOTTIME to the Unix epoch (see
// clock.go).
const clockTable = "sharedlimit_clock_v1"

// sweepTable holds one row: the lease of the sweep in progress (owner, the
// random id of the sweeping handle, 0 when none; until, when the lease
// ends, on the file's clock in µs) and when the last sweep ended (swept),
// so that at most one handle of all the processes on the file sweeps at a
// time, and not again within a cleanup interval (see sweep.go).
const sweepTable = "sharedlimit_sweep_v1"

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

// migrate is run once per connection, in one immediate transaction, after
// setup: it adds tok to a table made by an earlier release, and a trigger
// that gives a new token to every write that changes tat without setting
// one (those of an earlier release still running during a rolling deploy),
// so that no write but the reservation's own leaves its token in place.
var migrate = []string{
	"ALTER TABLE " + table + " ADD COLUMN tok INTEGER NOT NULL DEFAULT 0", // skipped when the column exists
	"CREATE TRIGGER IF NOT EXISTS " + table + "_tok AFTER UPDATE OF tat ON " + table +
		" FOR EACH ROW WHEN NEW.tok = OLD.tok BEGIN UPDATE " + table + " SET tok = random() WHERE key = NEW.key; END",
	"CREATE TABLE IF NOT EXISTS " + clockTable + ` (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		boot_id TEXT NOT NULL,
		offset_us INTEGER NOT NULL
	)`,
	"CREATE TABLE IF NOT EXISTS " + sweepTable + ` (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		owner INTEGER NOT NULL,
		until INTEGER NOT NULL,
		swept INTEGER NOT NULL
	)`,
}

// qHasTok reports whether table has the tok column.
const qHasTok = "SELECT count(*) FROM pragma_table_info('" + table + "') WHERE name = 'tok'"

// The statements of the hot path, prepared once per handle.
const (
	qBegin    = "BEGIN IMMEDIATE"
	qCommit   = "COMMIT"
	qRollback = "ROLLBACK"
	qGet      = "SELECT tat, at, tok FROM " + table + " WHERE key = ?1"
	qPut      = "INSERT INTO " + table + " (key, tat, at, tok) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, at = excluded.at, tok = excluded.tok"
	// qRestore and qUnput cancel a reservation whose write is still the
	// last one (its token, ?4 and ?2): back to the row it replaced, or to
	// no row.
	qRestore = "UPDATE " + table + " SET tat = ?2, tok = ?3 WHERE key = ?1 AND tok = ?4"
	qUnput   = "DELETE FROM " + table + " WHERE key = ?1 AND tok = ?2"
	qReset   = "DELETE FROM " + table + " WHERE key = ?1"
)

// The statements of the sweep (see sweep.go), prepared once per pass on
// the sweeper's connection.
const (
	// idle is true of a row that no request can tell from a missing one,
	// at ?1 (now) with the clock slack ?2: on the clock of the row (see
	// rebase: a shifted row is idle when tat <= at), and otherwise idle for
	// over the slack, since a step back within it is obeyed and would need
	// the row again.
	idle = "CASE WHEN at - ?1 > ?2 THEN tat <= at ELSE tat <= ?1 - ?2 END"
	// qSweepBound is the last key of the next chunk, the sweepChunk-th
	// key after the cursor ?1 (?2 = sweepChunk-1): a walk of the primary
	// key, whatever the share of idle rows.
	qSweepBound = "SELECT key FROM " + table + " WHERE key > ?1 ORDER BY key LIMIT 1 OFFSET ?2"
	// qSweepBytes is the size of the next ?2 keys after ?1, and
	// qSweepSizes their sizes one by one: a chunk is also bounded by
	// sweepChunkBytes, whatever the keys' length (octet_length reads a
	// key's size from the row's header, not its bytes).
	qSweepBytes = "SELECT coalesce(sum(n), 0) FROM (SELECT octet_length(key) AS n FROM " + table + " WHERE key > ?1 ORDER BY key LIMIT ?2)"
	qSweepSizes = "SELECT octet_length(key) FROM " + table + " WHERE key > ?1 ORDER BY key LIMIT ?2"
	// qSweepRange deletes the idle rows of the chunk (?3, ?4]; qSweepTail
	// those after ?3 (the last chunk, shorter).
	qSweepRange = "DELETE FROM " + table + " WHERE key > ?3 AND key <= ?4 AND " + idle
	qSweepTail  = "DELETE FROM " + table + " WHERE key > ?3 AND " + idle
	// qLease reads the lease; qClaim takes it (owner ?1 until ?2);
	// qRenew extends it if it is still ours; qRelease gives it back, and
	// qDone with the time the sweep ended (?2).
	qLease   = "SELECT owner, until, swept FROM " + sweepTable + " WHERE id = 1"
	qClaim   = "INSERT INTO " + sweepTable + " (id, owner, until, swept) VALUES (1, ?1, ?2, 0) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until"
	qRenew   = "UPDATE " + sweepTable + " SET until = ?2 WHERE id = 1 AND owner = ?1"
	qRelease = "UPDATE " + sweepTable + " SET owner = 0, until = 0 WHERE id = 1 AND owner = ?1"
	qDone    = "UPDATE " + sweepTable + " SET owner = 0, until = 0, swept = ?2 WHERE id = 1 AND owner = ?1"
	// qVacuumStep gives up to vacuumStep free pages back to the file
	// system; qFree counts the free pages left.
	qVacuumStep = "PRAGMA incremental_vacuum(" + vacuumStepS + ")"
	qFree       = "PRAGMA freelist_count"
	// qCheckpoint copies the WAL into the file without taking the
	// writers' lock.
	qCheckpoint = "PRAGMA wal_checkpoint(PASSIVE)"
)

// qGetN reads the rows of n keys (?1 to ?n) in one statement, each row
// with the index of its key (point lookups: an IN list would build a
// temporary table), and qPutN writes n rows (key, tat, at, tok for each, in
// order) in one: a batch of requests on up to maxChunk keys costs two
// statements, as a request of one need does (see decideBatch).
func qGetN(n int) string {
	qs := make([]string, n)
	for i := range qs {
		qs[i] = "SELECT " + strconv.Itoa(i) + ", tat, at, tok FROM " + table + " WHERE key = ?" + strconv.Itoa(i+1)
	}
	return strings.Join(qs, " UNION ALL ")
}

func qPutN(n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = "(" + params(4, 4*i+1) + ")"
	}
	return "INSERT INTO " + table + " (key, tat, at, tok) VALUES " + strings.Join(rows, ", ") +
		" ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, at = excluded.at, tok = excluded.tok"
}

// params is "?from, ..., ?from+n-1".
func params(n, from int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "?" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

// stmts are the prepared statements of one connection; getN[n] and
// putN[n] (qGetN, qPutN of n keys) are prepared on first use.
type stmts struct {
	begin, commit, rollback, get, put, restore, unput, reset *sql.Stmt
	getN, putN                                               [maxChunk + 1]*sql.Stmt
}

func prepare(ctx context.Context, c *sql.Conn) (*stmts, error) {
	s := &stmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&s.begin, qBegin}, {&s.commit, qCommit}, {&s.rollback, qRollback},
		{&s.get, qGet}, {&s.put, qPut}, {&s.restore, qRestore}, {&s.unput, qUnput}, {&s.reset, qReset},
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
	all := append([]*sql.Stmt{s.begin, s.commit, s.rollback, s.get, s.put, s.restore, s.unput, s.reset}, s.getN[:]...)
	for _, st := range append(all, s.putN[:]...) {
		if st != nil {
			st.Close()
		}
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/sharedlimit/sharedlimit/internal/handleopt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// DefaultBusyTimeout is how long a call waits, by default, for another
// process to release the file's write lock before the file counts as
// unavailable (an error matching limiter.ErrUnavailable, which the failure
// policy handles).
const DefaultBusyTimeout = 30 * time.Second

// DefaultCleanupInterval is how often, by default, the rows of idle keys
// are deleted (see [WithCleanupInterval]).
const DefaultCleanupInterval = time.Minute

// Limiter is a handle on a SQLite file: a [limiter.Handle] on the file's
// store, whose methods it has. Each handle holds one connection; handles in
// one or more processes on one file share every limit. A request of several
// needs is decided in one immediate write transaction.
type Limiter struct {
	*limiter.Handle
	s *store
}

var _ limiter.Limiter = (*Limiter)(nil)

// Close implements limiter.Limiter: as [limiter.Handle.Close], and a call
// waiting for another process's write lock gives up at once with an error
// matching limiter.ErrClosed, so that Close does not wait out the busy
// timeout.
func (l *Limiter) Close() error {
	l.s.stopWaits()
	return l.Handle.Close()
}

type config struct {
	now     func() time.Time // WithClock; nil: host
	nowSet  bool
	host    hostClock
	busy    time.Duration
	cleanup time.Duration
	handleopt.Common
}

// Option configures New.
type Option func(*config)

// WithClock sets the clock, for tests: the wall clock of a host without a
// boot clock, steps and all. All handles on one file must share one clock.
// The default value is the host's clock: on Linux CLOCK_BOOTTIME anchored to
// the Unix epoch once per boot, which wall-clock steps do not move;
// elsewhere time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now, c.nowSet = now, true }
}

// WithBusyTimeout sets how long a call waits for another process to release
// the file's write lock; then the file is unavailable (an error matching
// limiter.ErrUnavailable), and the failure policy (see [WithPolicy])
// decides what follows: under the default, limiter.FailWait, the call tries
// again with backoff for up to Policy.UnavailableAfter more. The default
// value is DefaultBusyTimeout (30 s).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }

// WithCleanupInterval sets how often the rows of keys that are idle (whose
// next request would find a full bucket, for over a second) are deleted,
// so that a file used with many keys stays small. A call made a cleanup
// interval or more after the handle's last one that asked for a sweep asks
// for one, and does not wait for it: a goroutine of the handle, which Close
// ends, sweeps on a connection of its own, a few hundred keys a short
// transaction with pauses between them, then gives the freed pages back to
// the file system, unless another handle on the file (of any process) is
// sweeping or swept less than an interval ago. The default value is
// DefaultCleanupInterval (1 minute).
func WithCleanupInterval(d time.Duration) Option { return func(c *config) { c.cleanup = d } }

// WithPolicy sets what the Limiter does when the file cannot answer (its
// write lock held past the busy timeout, an I/O error; see
// [limiter.Policy]): wait for it (the default), admit without it, or fall
// back to an in-process store. A Policy without an Observer keeps the one
// of an earlier WithObserver. The default value is limiter.Policy{}
// (FailWait, 30 s).
func WithPolicy(p limiter.Policy) Option { return func(c *config) { c.SetPolicy(p) } }

// WithCoalescing turns coalescing on or off. On, concurrent calls on the
// Limiter share round trips: a call that finds none in flight goes at
// once, and calls arriving meanwhile go together as the next batch, decided
// by the file in one transaction (each key read and written once), each
// request in arrival order as if alone. Off, every call is a transaction of
// its own. The default value is true.
func WithCoalescing(on bool) Option { return func(c *config) { c.SetCoalescing(on) } }

// WithObserver reports the Limiter's decisions, store errors and policy
// switches to o (see [limiter.Observer]); limiter.Wait reports its waits
// to it too. The default value is none.
func WithObserver(o limiter.Observer) Option { return func(c *config) { c.SetObserver(o) } }

// New opens the SQLite file at path, an absolute path (~ is not expanded),
// creating it (mode 0600) and its missing parent folders (mode 0700). It
// fails with a message naming the problem when the path is relative, a
// parent is not a folder, the file is not writable or is not a SQLite
// database, or the policy is not valid.
func New(ctx context.Context, path string, opts ...Option) (*Limiter, error) {
	cfg := config{host: systemClock, busy: DefaultBusyTimeout, cleanup: DefaultCleanupInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if (cfg.nowSet && cfg.now == nil) || cfg.busy <= 0 || cfg.cleanup <= 0 {
		return nil, fmt.Errorf("limiter: sqlite: nil clock, or busy timeout (%s) or cleanup interval (%s) not positive: %w",
			cfg.busy, cfg.cleanup, limiter.ErrInvalidArgument)
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	path = filepath.Clean(path)
	if err := createFile(path); err != nil {
		return nil, err
	}
	s := &store{path: path, cfg: cfg, sem: make(chan struct{}, 1), args: make([]any, 0, 4*maxChunk), stop: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	s.lastCleanup = s.nowUS()
	s.startSweeper()
	h, err := cfg.Handle(s)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("limiter: sqlite.New: %w", err)
	}
	return &Limiter{Handle: h, s: s}, nil
}

// createFile makes the parent folders and the file, so that their modes
// are ours and not SQLite's, and so that permission problems are reported
// by name before SQLite reports them as "unable to open database file".
func createFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("limiter: sqlite: cannot create folder %s for %s: a parent is a file, not a folder: %w", dir, path, err)
		}
		return fmt.Errorf("limiter: sqlite: cannot create folder %s for %s: %w", dir, path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("limiter: sqlite: %s is not writable by this user (uid %d): it needs read and write permission: %w", path, os.Getuid(), err)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("limiter: sqlite: %s is a folder, not a file: %w", path, err)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("limiter: sqlite: %s: a parent is a file, not a folder: %w", path, err)
	}
	return fmt.Errorf("limiter: sqlite: cannot open %s: %w", path, err)
}

// dsn is a SQLite URI for path: percent-escaped, so that '?' and '#' in a
// file name stay in the name.
func dsn(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath()
}

func (s *store) open(ctx context.Context) (err error) {
	db, err := sql.Open("sqlite", dsn(s.path))
	if err != nil {
		return fmt.Errorf("limiter: sqlite: open %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	conn, err := db.Conn(ctx)
	if err != nil {
		return s.openError(err)
	}
	s.db, s.conn = db, conn
	for _, q := range setup {
		err := s.retry(ctx, func() error {
			if q == "PRAGMA journal_mode = WAL" {
				var mode string
				if err := conn.QueryRowContext(context.Background(), q).Scan(&mode); err != nil {
					return err
				}
				if mode != "wal" {
					return fmt.Errorf("journal_mode is %q, not wal", mode)
				}
				return nil
			}
			_, err := conn.ExecContext(context.Background(), q)
			return err
		})
		if err != nil {
			conn.Close()
			return s.openError(err)
		}
	}
	if err := s.retry(ctx, func() error { return s.migrate(conn) }); err != nil {
		conn.Close()
		return s.openError(err)
	}
	if s.st, err = prepare(ctx, conn); err != nil {
		conn.Close()
		return s.openError(err)
	}
	return nil
}

// openError names the usual causes of a failed Open.
func (s *store) openError(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("limiter: sqlite: %s is not a SQLite database: %w", s.path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("limiter: sqlite: cannot write %s or its folder (it needs the -wal and -shm files beside it): %w", s.path, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("limiter: sqlite: %s is corrupt: %w", s.path, err)
		}
	}
	return fmt.Errorf("limiter: sqlite: open %s: %w", s.path, err)
}

// migrate brings the file's schema to this release's (see schema.go) and
// reads or sets the boot clock's offset, in one immediate transaction.
func (s *store) migrate(conn *sql.Conn) (err error) {
	bg := context.Background()
	if _, err := conn.ExecContext(bg, qBegin); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(bg, qRollback)
		}
	}()
	var has int
	if err := conn.QueryRowContext(bg, qHasTok).Scan(&has); err != nil {
		return err
	}
	for i, q := range migrate {
		if i == 0 && has > 0 {
			continue
		}
		if _, err := conn.ExecContext(bg, q); err != nil {
			return err
		}
	}
	if err := s.anchorClock(conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(bg, qCommit)
	return err
}

// anchorClock sets the handle's clock: the boot clock plus the offset stored
// for this boot, or a new one from the wall clock (see hostClock). It runs
// inside migrate's transaction.
func (s *store) anchorClock(conn *sql.Conn) error {
	if s.cfg.nowSet {
		return nil
	}
	id, ok1 := s.cfg.host.bootID()
	boot, ok2 := s.cfg.host.boot()
	if !ok1 || !ok2 {
		s.useBoot = false
		return nil
	}
	bg := context.Background()
	var stored string
	var off int64
	err := conn.QueryRowContext(bg, "SELECT boot_id, offset_us FROM "+clockTable+" WHERE id = 1").Scan(&stored, &off)
	switch {
	case err == nil && stored == id:
	case err == nil || errors.Is(err, sql.ErrNoRows):
		off = s.cfg.host.wall().UnixMicro() - boot
		if _, err := conn.ExecContext(bg, "INSERT INTO "+clockTable+" (id, boot_id, offset_us) VALUES (1, ?1, ?2) "+
			"ON CONFLICT (id) DO UPDATE SET boot_id = excluded.boot_id, offset_us = excluded.offset_us", id, off); err != nil {
			return err
		}
	default:
		return err
	}
	s.bootOffset, s.useBoot = off, true
	return nil
}

// nowUS is the handle's clock in µs since the Unix epoch (see hostClock).
func (s *store) nowUS() int64 {
	switch {
	case s.cfg.nowSet:
		return s.cfg.now().UnixMicro()
	case s.useBoot:
		if b, ok := s.cfg.host.boot(); ok {
			return b + s.bootOffset
		}
	}
	return s.cfg.host.wall().UnixMicro()
}

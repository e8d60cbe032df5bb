package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/internal/lifecycle"
	"github.com/sharedlimit/sharedlimit/limiter"
)

// DefaultBusyTimeout is how long a call waits, by default, for another
// process to release the file's write lock before it fails with
// limiter.ErrUnavailable.
const DefaultBusyTimeout = 30 * time.Second

// DefaultCleanupInterval is how often, by default, a handle deletes the rows
// of idle keys.
const DefaultCleanupInterval = time.Minute

// Limiter is a handle on a SQLite file. It implements limiter.Limiter. Each
// handle holds one connection; handles in one or more processes on one file
// share every limit.
type Limiter struct {
	path string
	cfg  config
	lc   *lifecycle.Lifecycle

	// sem guards everything below: one call at a time uses the
	// connection, in FIFO order.
	sem         chan struct{}
	db          *sql.DB
	conn        *sql.Conn
	st          *stmts
	lastCleanup int64
	released    bool

	// bootOffset is added to the host's boot clock when useBoot (see
	// hostClock).
	bootOffset int64
	useBoot    bool
}

var _ limiter.Limiter = (*Limiter)(nil)

type config struct {
	now     func() time.Time // WithClock; nil: host
	nowSet  bool
	host    hostClock
	busy    time.Duration
	cleanup time.Duration
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
// the file's write lock; then it fails with an error matching
// limiter.ErrUnavailable. The default value is DefaultBusyTimeout (30 s).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }

// WithCleanupInterval sets how often the handle deletes the rows of keys
// that are idle (whose next request would find a full bucket), so that a
// file used with many keys stays small. The default value is
// DefaultCleanupInterval (1 minute).
func WithCleanupInterval(d time.Duration) Option { return func(c *config) { c.cleanup = d } }

// New opens the SQLite file at path, an absolute path (~ is not expanded),
// creating it (mode 0600) and its missing parent folders (mode 0700). It
// fails with a message naming the problem when the path is relative, a
// parent is not a folder, the file is not writable or is not a SQLite
// database.
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
	l := &Limiter{path: path, cfg: cfg, lc: lifecycle.New(), sem: make(chan struct{}, 1)}
	if err := l.open(ctx); err != nil {
		return nil, err
	}
	l.lastCleanup = l.nowUS()
	return l, nil
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

func (l *Limiter) open(ctx context.Context) (err error) {
	db, err := sql.Open("sqlite", dsn(l.path))
	if err != nil {
		return fmt.Errorf("limiter: sqlite: open %s: %w", l.path, err)
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
		return l.openError(err)
	}
	l.db, l.conn = db, conn
	for _, q := range setup {
		err := l.retry(ctx, func() error {
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
			return l.openError(err)
		}
	}
	if err := l.retry(ctx, func() error { return l.migrate(conn) }); err != nil {
		conn.Close()
		return l.openError(err)
	}
	if l.st, err = prepare(ctx, conn); err != nil {
		conn.Close()
		return l.openError(err)
	}
	return nil
}

// openError names the usual causes of a failed Open.
func (l *Limiter) openError(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("limiter: sqlite: %s is not a SQLite database: %w", l.path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("limiter: sqlite: cannot write %s or its folder (it needs the -wal and -shm files beside it): %w", l.path, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("limiter: sqlite: %s is corrupt: %w", l.path, err)
		}
	}
	return fmt.Errorf("limiter: sqlite: open %s: %w", l.path, err)
}

// migrate brings the file's schema to this release's (see schema.go) and
// reads or sets the boot clock's offset, in one immediate transaction.
func (l *Limiter) migrate(conn *sql.Conn) (err error) {
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
	if err := l.anchorClock(conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(bg, qCommit)
	return err
}

// anchorClock sets the handle's clock: the boot clock plus the offset stored
// for this boot, or a new one from the wall clock (see hostClock). It runs
// inside migrate's transaction.
func (l *Limiter) anchorClock(conn *sql.Conn) error {
	if l.cfg.nowSet {
		return nil
	}
	id, ok1 := l.cfg.host.bootID()
	boot, ok2 := l.cfg.host.boot()
	if !ok1 || !ok2 {
		l.useBoot = false
		return nil
	}
	bg := context.Background()
	var stored string
	var off int64
	err := conn.QueryRowContext(bg, "SELECT boot_id, offset_us FROM "+clockTable+" WHERE id = 1").Scan(&stored, &off)
	switch {
	case err == nil && stored == id:
	case err == nil || errors.Is(err, sql.ErrNoRows):
		off = l.cfg.host.wall().UnixMicro() - boot
		if _, err := conn.ExecContext(bg, "INSERT INTO "+clockTable+" (id, boot_id, offset_us) VALUES (1, ?1, ?2) "+
			"ON CONFLICT (id) DO UPDATE SET boot_id = excluded.boot_id, offset_us = excluded.offset_us", id, off); err != nil {
			return err
		}
	default:
		return err
	}
	l.bootOffset, l.useBoot = off, true
	return nil
}

// nowUS is the handle's clock in µs since the Unix epoch (see hostClock).
func (l *Limiter) nowUS() int64 {
	switch {
	case l.cfg.nowSet:
		return l.cfg.now().UnixMicro()
	case l.useBoot:
		if b, ok := l.cfg.host.boot(); ok {
			return b + l.bootOffset
		}
	}
	return l.cfg.host.wall().UnixMicro()
}

func (l *Limiter) enter(ctx context.Context) error { return l.lc.EnterContext(ctx) }

// AllowN implements limiter.Limiter.
func (l *Limiter) AllowN(ctx context.Context, key string, limit limiter.Limit, n int) (limiter.Result, error) {
	if err := limiter.CheckArgs(key, limit, n); err != nil {
		return limiter.Result{}, err
	}
	if err := l.enter(ctx); err != nil {
		return limiter.Result{}, err
	}
	defer l.lc.Leave()
	p := gcra.ParamsOf(limit)
	var d gcra.Decision
	err := l.update(ctx, "AllowN", key, newToken(), func(r row, _ bool, now int64) (int64, bool) {
		d = gcra.Allow(r.tat, now, p, int64(n))
		return d.TAT, d.OK
	})
	if err != nil {
		return limiter.Result{}, err
	}
	return d.Result(), nil
}

// ReserveN implements limiter.Limiter.
func (l *Limiter) ReserveN(ctx context.Context, key string, limit limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	if err := limiter.CheckArgs(key, limit, n); err != nil {
		return nil, err
	}
	if err := limiter.CheckMaxWait(maxWait); err != nil {
		return nil, err
	}
	if err := l.enter(ctx); err != nil {
		return nil, err
	}
	defer l.lc.Leave()
	p := gcra.ParamsOf(limit)
	var d gcra.Decision
	var prev row
	var had bool
	mine := newToken()
	err := l.update(ctx, "ReserveN", key, mine, func(r row, ok bool, now int64) (int64, bool) {
		prev, had = r, ok
		d = gcra.Reserve(r.tat, now, p, int64(n), gcra.MaxWaitUS(maxWait))
		return d.TAT, d.OK
	})
	if err != nil {
		return nil, err
	}
	if !d.OK {
		return &limiter.Reservation{Remaining: int(d.Remaining), RetryAfter: gcra.US(d.RetryAfter), ResetAfter: gcra.US(d.ResetAfter)}, nil
	}
	delay := gcra.US(d.Wait)
	var pin *lifecycle.Pin
	if delay > 0 && limiter.IsWaiting(ctx) {
		// Close gives the slots of Waits back, newest first, before it
		// closes the file.
		pin = l.lc.Pin(delay, d.TAT)
	}
	cancel := func(ctx context.Context) error {
		if pin != nil {
			defer pin.Release()
		}
		return l.cancel(ctx, key, mine, prev, had)
	}
	r := limiter.NewReservation(delay, int(d.Remaining), gcra.US(d.ResetAfter), cancel)
	if pin != nil {
		pin.GiveBack(r.Cancel)
	}
	return r, nil
}

// cancel gives a reservation back: compare-and-set on the token of its
// write, back to the row it replaced (as the reservation saw it, token
// included) or to no row, so that cancels run newest first chain. It runs
// while Close gives pinned slots back, so it does not Enter.
func (l *Limiter) cancel(ctx context.Context, key string, mine int64, prev row, had bool) error {
	return l.do(ctx, "Cancel", func(st *stmts) error {
		var err error
		if had {
			_, err = st.restore.ExecContext(context.Background(), key, prev.tat, prev.tok, mine)
		} else {
			_, err = st.unput.ExecContext(context.Background(), key, mine)
		}
		return err
	})
}

// Hold implements limiter.Limiter.
func (l *Limiter) Hold(ctx context.Context, key string, limit limiter.Limit, d time.Duration) error {
	if err := limiter.CheckHold(key, limit, d); err != nil {
		return err
	}
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.lc.Leave()
	p := gcra.ParamsOf(limit)
	return l.update(ctx, "Hold", key, newToken(), func(r row, _ bool, now int64) (int64, bool) {
		return gcra.Hold(r.tat, now, p, d.Microseconds()), true
	})
}

// Reset implements limiter.Limiter.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := limiter.CheckKey(key); err != nil {
		return err
	}
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.lc.Leave()
	return l.do(ctx, "Reset", func(st *stmts) error {
		_, err := st.reset.ExecContext(context.Background(), key)
		return err
	})
}

// Status implements limiter.Limiter. It reads the row without a write
// transaction.
func (l *Limiter) Status(ctx context.Context, key string, limit limiter.Limit) (limiter.Status, error) {
	if err := limiter.CheckArgs(key, limit, 1); err != nil {
		return limiter.Status{}, err
	}
	if err := l.enter(ctx); err != nil {
		return limiter.Status{}, err
	}
	defer l.lc.Leave()
	var s limiter.Status
	err := l.do(ctx, "Status", func(st *stmts) error {
		r, _, err := get(st, key)
		if err != nil {
			return err
		}
		now := l.nowUS()
		eff, _ := rebase(r.tat, r.at, now)
		s = gcra.Status(eff, now, gcra.ParamsOf(limit))
		return nil
	})
	return s, err
}

// Done implements limiter.Limiter.
func (l *Limiter) Done() <-chan struct{} { return l.lc.Done() }

// Close implements limiter.Limiter: the slots of Waits in flight are given
// back newest first (so that their cancels chain), Waits return
// limiter.ErrClosed, then the connection is closed. The file stays for other handles.
func (l *Limiter) Close() error {
	return l.lc.Close(func() error {
		l.sem <- struct{}{}
		defer func() { <-l.sem }()
		l.released = true
		l.st.close()
		err := l.conn.Close()
		if e := l.db.Close(); err == nil {
			err = e
		}
		if err != nil {
			return fmt.Errorf("limiter: sqlite: close %s: %w", l.path, err)
		}
		return nil
	})
}

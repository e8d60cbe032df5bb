package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sharedlimit/sharedlimit/internal/backoff"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// Backoff between attempts to take the write lock held by another process.
// SQLite's own busy handler sleeps 1, 2, 5, 10 ... ms; a decision holds the
// lock for tens of microseconds, so short sleeps keep the file busy and the
// waits short.
const (
	minBackoff = 20 * time.Microsecond
	maxBackoff = time.Millisecond
)

// row is a key's stored state.
type row struct {
	tat, at, tok int64
}

// newToken returns the token of a write: random, never 0 (the token of rows
// written by earlier releases), so that no other write, before or after a
// Reset or a clock step, leaves the same one.
func newToken() int64 { return 1 + rand.Int64N(math.MaxInt64) }

// get reads a row; a missing row is tat 0, as good as idle, and ok false.
func (s *store) get(key string) (r row, ok bool, err error) {
	err = s.st.get.QueryRowContext(context.Background(), key).Scan(&r.tat, &r.at, &r.tok)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	return r, err == nil, err
}

// put writes a row with the token tok.
func (s *store) put(key string, tat, at, tok int64) error {
	if _, err := s.st.put.ExecContext(context.Background(), key, tat, at, tok); err != nil {
		return err
	}
	s.wrote(key)
	return nil
}

// wrote runs the test hook after the row of key was written.
func (s *store) wrote(key string) {
	if s.afterPut != nil {
		s.afterPut(key)
	}
}

// stmtN returns *p, preparing q(n) into it on first use.
func (s *store) stmtN(p **sql.Stmt, q func(int) string, n int) (*sql.Stmt, error) {
	if *p != nil {
		return *p, nil
	}
	st, err := s.conn.PrepareContext(context.Background(), q(n))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q(n), err)
	}
	*p = st
	return st, nil
}

// isContext reports whether err is a context's.
func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// storeError makes an error of the file a limiter error: the context's
// error as it is, or an UnavailableError (the failure policy's to handle).
func (s *store) storeError(op driver.Op, err error) error {
	if isContext(err) || errors.Is(err, limiter.ErrClosed) {
		return fmt.Errorf("limiter: sqlite %s: %w", op, err)
	}
	var ue *limiter.UnavailableError
	if errors.As(err, &ue) {
		ue.Op = op.String()
		return ue
	}
	return &limiter.UnavailableError{Op: op.String(), Err: fmt.Errorf("sqlite %s: %w", s.path, err)}
}

// retry runs f until it does not fail with SQLITE_BUSY, for up to the busy
// timeout (see busyWait).
func (s *store) retry(ctx context.Context, f func() error) error {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !isBusy(err) {
			return err
		}
		if err := s.busyWait(ctx, nil, attempt, &deadline, err); err != nil {
			return err
		}
	}
}

// busyWait follows attempt (from 0) that failed with SQLITE_BUSY, err: it
// sleeps a short random backoff and returns nil, or returns the
// UnavailableError of a lock held past the busy timeout (counted from the
// first failure, *deadline), or the context's error, or, once stop is
// closed (the Limiter closing; nil: never), an error matching
// limiter.ErrClosed.
func (s *store) busyWait(ctx context.Context, stop <-chan struct{}, attempt int, deadline *time.Time, err error) error {
	now := time.Now()
	if deadline.IsZero() {
		*deadline = now.Add(s.cfg.busy)
	} else if now.After(*deadline) {
		return &limiter.UnavailableError{Err: fmt.Errorf("sqlite %s: another process held the write lock for over %s: %w", s.path, s.cfg.busy, err)}
	}
	if stop == nil {
		return backoff.Sleep(ctx, backoff.Exp(attempt, minBackoff, maxBackoff))
	}
	select {
	case <-stop:
		return fmt.Errorf("sqlite %s: closed while another process held the write lock: %w", s.path, limiter.ErrClosed)
	default:
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := backoff.Sleep(sctx, backoff.Exp(attempt, minBackoff, maxBackoff)); err != nil {
		if ctx.Err() == nil {
			return fmt.Errorf("sqlite %s: closed while another process held the write lock: %w", s.path, limiter.ErrClosed)
		}
		return err
	}
	return nil
}

// isBusy reports SQLITE_BUSY (another connection holds the lock) in any of
// its extended forms.
func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

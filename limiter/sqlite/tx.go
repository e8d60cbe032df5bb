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

	"github.com/sharedlimit/sharedlimit/limiter"
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

// update runs one decision on key in one immediate write transaction: it
// reads the row, lets decide choose on the row with its tat rebased to the
// current clock (and whether there was a row), and stores what decide
// returns, with token tok, when it says so. The clock is read after the
// lock is taken, so that the writes of all processes are in clock order.
func (l *Limiter) update(ctx context.Context, op, key string, tok int64, decide func(r row, ok bool, now int64) (int64, bool)) error {
	return l.do(ctx, op, func(st *stmts) (err error) {
		bg := context.Background()
		if _, err := st.begin.ExecContext(bg); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_, _ = st.rollback.ExecContext(bg)
			}
		}()
		r, ok, err := get(st, key)
		if err != nil {
			return err
		}
		now := l.nowUS()
		eff, newAt := rebase(r.tat, r.at, now)
		seen := r
		seen.tat = eff
		next, store := decide(seen, ok, now)
		if !store && eff != r.tat {
			// The clock went back: store the shift even when nothing
			// is taken, or the row's wait would stay frozen until
			// the clock caught up with the last write.
			next, store = eff, true
		}
		if store {
			if _, err := st.put.ExecContext(bg, key, next, newAt, tok); err != nil {
				return err
			}
		}
		if err := l.sweep(st, now); err != nil {
			return err
		}
		_, err = st.commit.ExecContext(bg)
		return err
	})
}

// get reads a row; a missing row is tat 0, as good as idle, and ok false.
func get(st *stmts, key string) (r row, ok bool, err error) {
	err = st.get.QueryRowContext(context.Background(), key).Scan(&r.tat, &r.at, &r.tok)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	return r, err == nil, err
}

// sweep deletes idle rows once per cleanup interval, inside the caller's
// transaction, and gives the freed pages back to the file system.
func (l *Limiter) sweep(st *stmts, now int64) error {
	if d := now - l.lastCleanup; d >= 0 && d < l.cfg.cleanup.Microseconds() {
		return nil
	}
	l.lastCleanup = now // also when the clock went back
	bg := context.Background()
	if _, err := st.sweep.ExecContext(bg, now, int64(clockSlack)); err != nil {
		return err
	}
	rows, err := st.vacuum.QueryContext(bg)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

// do runs f with the handle's connection, one call at a time in FIFO order,
// and runs it again while another process holds the write lock, for up to
// the busy timeout. Errors become limiter errors: ErrClosed, the context's
// error, or UnavailableError.
func (l *Limiter) do(ctx context.Context, op string, f func(*stmts) error) error {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("limiter: sqlite %s: %w", op, ctx.Err())
	}
	defer func() { <-l.sem }()
	if l.released {
		return limiter.ErrClosed
	}
	err := l.retry(ctx, func() error { return f(l.st) })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("limiter: sqlite %s: %w", op, err)
	}
	var ue *limiter.UnavailableError
	if errors.As(err, &ue) {
		ue.Op = op
		return ue
	}
	return &limiter.UnavailableError{Op: op, Err: fmt.Errorf("sqlite %s: %w", l.path, err)}
}

// retry runs f until it does not fail with SQLITE_BUSY, sleeping a short
// random backoff between attempts, for up to the busy timeout.
func (l *Limiter) retry(ctx context.Context, f func() error) error {
	var deadline time.Time
	backoff := minBackoff
	var timer *time.Timer
	for {
		err := f()
		if err == nil || !isBusy(err) {
			if timer != nil {
				timer.Stop()
			}
			return err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(l.cfg.busy)
		} else if now.After(deadline) {
			return &limiter.UnavailableError{Err: fmt.Errorf("sqlite %s: another process held the write lock for over %s: %w", l.path, l.cfg.busy, err)}
		}
		d := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		if ctx.Done() == nil {
			time.Sleep(d)
			continue
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// isBusy reports SQLITE_BUSY (another connection holds the lock) in any of
// its extended forms.
func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

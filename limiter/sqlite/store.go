package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// store is the driver.Store of one handle: one connection to the file.
type store struct {
	path string
	cfg  config

	// sem guards everything below: one call at a time uses the
	// connection, in FIFO order.
	sem         chan struct{}
	db          *sql.DB
	conn        *sql.Conn
	st          *stmts
	lastCleanup int64
	released    bool
	// lockedOut is set when a write gave up on the lock of another
	// process: until a write goes through, Status takes the lock too, so
	// that the failure policy's probe (a Status) does not find the file
	// answering while it still cannot be written.
	lockedOut bool
	// grants counts the reservations granted (Answer.Order).
	grants int64

	// bootOffset is added to the host's boot clock when useBoot (see
	// hostClock).
	bootOffset int64
	useBoot    bool

	// args is the scratch of the arguments of the statements of many
	// keys; cache holds the rows of the batch being decided.
	args  []any
	cache rowCache

	// afterPut, when set (by tests), runs after each row written, inside
	// the transaction.
	afterPut func(key string)

	// stop is closed when the Limiter starts closing: a call waiting
	// for another process's write lock gives up (see busyWait).
	stop     chan struct{}
	stopOnce sync.Once

	// sw runs the sweeps of idle rows (see sweep.go).
	sw sweeper
}

// stopWaits ends the busy waits in flight and to come: Close does not
// wait out the busy timeout for a call waiting for the write lock.
func (s *store) stopWaits() { s.stopOnce.Do(func() { close(s.stop) }) }

var _ driver.Store = (*store)(nil)

// undo is what a Cancel needs of one key of a reservation: the token of
// the reservation's write, and the row it replaced (as the reservation saw
// it, token included) or none.
type undo struct {
	key  string
	mine int64
	prev row
	had  bool
}

// Do implements driver.Store: the whole batch in one immediate write
// transaction (a batch of Status requests only reads, but while the store
// is locked out), run again while another process holds the write lock, for
// up to the busy timeout. The clock is read after the lock is taken, so
// that the writes of all processes are in clock order.
func (s *store) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	if len(batch) == 0 {
		return nil
	}
	op := batch[0].Op
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("limiter: sqlite %s: %w", op, ctx.Err())
	}
	defer func() { <-s.sem }()
	if s.released {
		return limiter.ErrClosed
	}
	write := s.lockedOut
	for i := range batch {
		if batch[i].Op != driver.Status {
			write = true
			break
		}
	}
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		var err error
		if write {
			err = s.write(batch, answers)
		} else {
			err = s.read(batch, answers)
		}
		if err == nil {
			if write {
				s.lockedOut = false
			}
			return nil
		}
		if isBusy(err) {
			// The give-backs of Close (Cancel) still wait for the
			// lock: they are what Close waits for.
			stop := s.stop
			if op == driver.Cancel {
				stop = nil
			}
			if err = s.busyWait(ctx, stop, attempt, &deadline, err); err != nil && write && !isContext(err) {
				s.lockedOut = true
			}
		}
		if err != nil {
			return s.storeError(op, err)
		}
	}
}

// write decides batch in one immediate transaction: on a cache of its rows
// (decideBatch), but a Cancel or a Reset alone by its own statements, which
// need no read.
func (s *store) write(batch []driver.Request, answers []driver.Answer) (err error) {
	bg := context.Background()
	if _, err := s.st.begin.ExecContext(bg); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.st.rollback.ExecContext(bg)
		}
	}()
	now := s.nowUS()
	if op := batch[0].Op; len(batch) == 1 && (op == driver.Cancel || op == driver.Reset) {
		answers[0] = driver.Answer{Needs: answers[0].Needs[:0]}
		err = s.decide(&batch[0], &answers[0], now)
	} else {
		err = s.decideBatch(batch, answers, now)
	}
	if err != nil {
		return err
	}
	if _, err = s.st.commit.ExecContext(bg); err != nil {
		return err
	}
	s.sweepDue(now)
	return nil
}

// read answers a batch of Status requests without a write transaction.
func (s *store) read(batch []driver.Request, answers []driver.Answer) error {
	now := s.nowUS()
	for i := range batch {
		answers[i] = driver.Answer{Needs: answers[i].Needs[:0]}
		if err := s.decide(&batch[i], &answers[i], now); err != nil {
			return err
		}
	}
	return nil
}

// decide answers a request alone: a Status outside a write transaction,
// or a Cancel or a Reset alone in one, by their own statements (no read);
// an error is the batch's (the file failed), a request's own goes into
// a.Err.
func (s *store) decide(r *driver.Request, a *driver.Answer, now int64) error {
	if err := arity(r); err != nil {
		a.Err = err
		return nil
	}
	switch r.Op {
	case driver.Status:
		nd := r.Needs[0]
		cur, _, err := s.get(nd.Key)
		if err != nil {
			return err
		}
		eff, _ := rebase(cur.tat, cur.at, now)
		a.Needs = append(a.Needs[:0], gcra.Status(eff, now, nd.T, nd.Tau))
		return nil
	case driver.Reset:
		_, err := s.st.reset.ExecContext(context.Background(), r.Needs[0].Key)
		return err
	case driver.Cancel:
		return s.cancel(r, a)
	}
	a.Err = fmt.Errorf("limiter: sqlite: %s cannot be decided alone: %w", r.Op, limiter.ErrInvalidArgument)
	return nil
}

// cancel gives a reservation back: on each key, compare-and-set on the
// token of the reservation's write, back to the row it replaced (token
// included) or to no row, so that cancels run newest first chain; a key
// written since is left alone.
func (s *store) cancel(r *driver.Request, a *driver.Answer) error {
	u, err := undoOf(r)
	if err != nil {
		a.Err = err
		return nil
	}
	bg := context.Background()
	for _, k := range u {
		var res sql.Result
		var err error
		if k.had {
			res, err = s.st.restore.ExecContext(bg, k.key, k.prev.tat, k.prev.tok, k.mine)
		} else {
			res, err = s.st.unput.ExecContext(bg, k.key, k.mine)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			a.OK = true
		}
	}
	return nil
}

// Close implements driver.Store: it closes the connection once the call
// using it is done. The file stays for other handles.
func (s *store) Close() error {
	s.sw.stop()
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	if s.released {
		return nil
	}
	s.released = true
	s.st.close()
	err := s.conn.Close()
	if e := s.db.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("limiter: sqlite: close %s: %w", s.path, err)
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/backoff"
)

// The sweep of idle rows. A decision only notes that a cleanup interval
// has passed (sweepDue, after its commit); the handle's sweeper goroutine
// then runs one pass, each step its own short immediate transaction on the
// handle's connection, taken as a call takes it (the handle's semaphore,
// FIFO):
//
//   - the claim: the lease row of sweepTable is taken unless another
//     handle (of any process) holds it, unexpired, or a pass ended less
//     than a cleanup interval ago; then this handle skips;
//   - chunks: the lease renewed (a handle that lost it stops), the next
//     sweepChunk keys after a cursor read by the primary key (qSweepBound)
//     and the idle ones among them deleted (qSweepRange, the predicate
//     idle), and up to vacuumStep free pages given back to the file system;
//     so a chunk's work is bounded whatever the table's size and its share
//     of idle rows;
//   - the free pages left given back, vacuumStep a transaction, and the
//     lease given back with the time the pass ended.
//
// Between steps the sweeper pauses at least as long as the step took, so
// that the calls of this handle (queued on the semaphore) and of other
// processes (backing off from the file's lock) go first: a call waits for
// one step at most. A pass is housekeeping: on an error, or the lock held
// by others past the busy timeout, it stops, and the next interval starts
// again from the first key. Close stops the sweeper and waits for it
// before it closes the connection.
const (
	// sweepChunk is the most rows a chunk reads and deletes.
	sweepChunk = 256
	// vacuumStep is the most free pages one step gives back; vacuumStepS
	// is its digits, for the pragma.
	vacuumStep  = 64
	vacuumStepS = "64"
	// leaseUS is how long a lease lasts unless renewed, in µs: a handle
	// that stopped (a dead process) keeps the others from sweeping for
	// that long at most. A lease further ahead than that (the clock went
	// back) counts as expired.
	leaseUS = int64(10 * time.Second / time.Microsecond)
	// minPause is the shortest pause between two steps of a pass.
	minPause = time.Millisecond
	// maxVacuumSteps bounds the pass's last phase, should other handles
	// free pages as fast as it gives them back.
	maxVacuumSteps = 1 << 12
)

// sweeper is a handle's sweeping goroutine and its signals.
type sweeper struct {
	id     int64 // the lease's owner: random, never 0
	kick   chan struct{}
	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has ended

	// pending counts the passes asked for and not yet run (for the tests:
	// waitIdle).
	mu      sync.Mutex
	cond    sync.Cond
	pending int
	ended   bool

	// holdMax is the longest step so far, in ns (for the benchmarks).
	holdMax atomic.Int64
}

// startSweeper starts s's sweeper goroutine; s.Close ends it.
func (s *store) startSweeper() {
	w := &s.sw
	w.id = newToken()
	w.kick = make(chan struct{}, 1)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.done = make(chan struct{})
	w.cond.L = &w.mu
	go s.sweepLoop()
}

func (s *store) sweepLoop() {
	w := &s.sw
	defer func() {
		w.mu.Lock()
		w.pending, w.ended = 0, true
		w.cond.Broadcast()
		w.mu.Unlock()
		close(w.done)
	}()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.kick:
		}
		s.pass()
		w.mu.Lock()
		w.pending--
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// stop ends the sweeper and waits for it; a step in progress finishes
// first. It may be called more than once, and before startSweeper.
func (w *sweeper) stop() {
	if w.done == nil {
		return
	}
	w.cancel()
	<-w.done
}

// waitIdle returns when no pass is asked for or running, or the sweeper
// has ended.
func (w *sweeper) waitIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.pending > 0 && !w.ended {
		w.cond.Wait()
	}
}

// sweepDue asks for a pass when a cleanup interval has passed since the
// last one this handle asked for, or the clock went back, at now (after a
// commit, under the semaphore). It does not wait.
func (s *store) sweepDue(now int64) {
	if d := now - s.lastCleanup; d >= 0 && d < s.cfg.cleanup.Microseconds() {
		return
	}
	s.lastCleanup = now
	w := &s.sw
	if w.kick == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
		w.pending++
	default: // one is asked for already
	}
}

// pass runs one sweep: the claim, the chunks, the free pages, the end.
func (s *store) pass() {
	if !s.sweepStep(s.claimLease) {
		return
	}
	// The chunk's cursor and whether it is the last, and what they are
	// once the chunk is committed.
	cursor, last := "", false
	var next string
	var nextLast bool
	chunk := func(now int64) (bool, error) {
		if ok, err := s.renewLease(now); !ok || err != nil {
			return false, err
		}
		bg := context.Background()
		var hi string
		err := s.st.bound.QueryRowContext(bg, cursor, sweepChunk-1).Scan(&hi)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = s.st.sweepTail.ExecContext(bg, now, int64(clockSlack), cursor)
			nextLast = true
		case err == nil:
			_, err = s.st.sweepRange.ExecContext(bg, now, int64(clockSlack), cursor, hi)
		}
		if err != nil {
			return false, err
		}
		if err := drain(s.st.vacuum.QueryContext(bg)); err != nil {
			return false, err
		}
		next = hi
		return true, nil
	}
	for !last {
		nextLast = false
		if !s.sweepStep(chunk) {
			s.releaseLease()
			return
		}
		cursor, last = next, nextLast
	}
	free := 1
	vacuum := func(now int64) (bool, error) {
		if ok, err := s.renewLease(now); !ok || err != nil {
			return false, err
		}
		bg := context.Background()
		if err := s.st.free.QueryRowContext(bg).Scan(&free); err != nil || free == 0 {
			return err == nil, err
		}
		return true, drain(s.st.vacuum.QueryContext(bg))
	}
	for i := 0; free > 0 && i < maxVacuumSteps; i++ {
		if !s.sweepStep(vacuum) {
			s.releaseLease()
			return
		}
	}
	s.sweepStep(func(now int64) (bool, error) {
		_, err := s.st.done.ExecContext(context.Background(), s.sw.id, now)
		return err == nil, err
	})
}

// claimLease takes the lease at now unless another handle holds it or a
// pass ended less than a cleanup interval ago (false: skip).
func (s *store) claimLease(now int64) (bool, error) {
	bg := context.Background()
	var owner, until, swept int64
	switch err := s.st.lease.QueryRowContext(bg).Scan(&owner, &until, &swept); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	case owner != 0 && owner != s.sw.id && until > now && until-now <= leaseUS:
		return false, nil // another handle is sweeping
	case now-swept >= 0 && now-swept < s.cfg.cleanup.Microseconds():
		return false, nil // swept lately, by another handle
	}
	_, err := s.st.claim.ExecContext(bg, s.sw.id, now+leaseUS)
	return err == nil, err
}

// renewLease extends the lease at now if it is still this handle's.
func (s *store) renewLease(now int64) (bool, error) {
	res, err := s.st.renew.ExecContext(context.Background(), s.sw.id, now+leaseUS)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// releaseLease gives the lease back, if the connection is free now and
// the file's lock too (a pass cut short; else the lease expires).
func (s *store) releaseLease() {
	select {
	case s.sem <- struct{}{}:
	default:
		return
	}
	defer func() { <-s.sem }()
	if s.released {
		return
	}
	_ = s.inTx(func(int64) (bool, error) {
		_, err := s.st.release.ExecContext(context.Background(), s.sw.id)
		return err == nil, err
	})
}

// sweepStep runs f in an immediate transaction of its own on the handle's
// connection, once the calls queued before it are done, again while
// another process holds the file's lock (for up to the busy timeout), then
// pauses; it reports whether f went through and asked to go on. It gives
// up, false, once the sweeper is stopped.
func (s *store) sweepStep(f func(now int64) (bool, error)) bool {
	w := &s.sw
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		select {
		case s.sem <- struct{}{}:
		case <-w.ctx.Done():
			return false
		}
		if s.released || w.ctx.Err() != nil {
			<-s.sem
			return false
		}
		t0 := time.Now()
		err := s.inTx(f)
		took := time.Since(t0)
		<-s.sem
		if ns := int64(took); ns > w.holdMax.Load() {
			w.holdMax.Store(ns) // one writer: this goroutine
		}
		if isBusy(err) {
			if now := time.Now(); deadline.IsZero() {
				deadline = now.Add(s.cfg.busy)
			} else if now.After(deadline) {
				return false
			}
			if backoff.Sleep(w.ctx, backoff.Exp(attempt, minBackoff, maxBackoff)) != nil {
				return false
			}
			continue
		}
		// The pause: the calls waiting go first.
		if backoff.Sleep(w.ctx, max(minPause, took)) != nil {
			return false
		}
		return err == nil
	}
}

// inTx runs f in an immediate transaction at the clock read after the
// lock is taken; a false from f rolls back. The caller holds the
// semaphore.
func (s *store) inTx(f func(now int64) (bool, error)) (err error) {
	bg := context.Background()
	if _, err := s.st.begin.ExecContext(bg); err != nil {
		return err
	}
	ok, err := f(s.nowUS())
	if err != nil || !ok {
		_, rerr := s.st.rollback.ExecContext(bg)
		if err == nil && rerr == nil {
			err = errStop
		}
		return errors.Join(err, rerr)
	}
	_, err = s.st.commit.ExecContext(bg)
	if err != nil {
		_, _ = s.st.rollback.ExecContext(bg)
	}
	return err
}

// errStop is a step that asked to stop (the lease lost, or a claim
// skipped).
var errStop = errors.New("sqlite: sweep stopped")

// drain reads a pragma's rows to its end (incremental_vacuum does its work
// as it is stepped).
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

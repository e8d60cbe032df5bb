package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/backoff"
)

// The sweep of idle rows. A decision only notes that a cleanup interval
// has passed (sweepDue, after its commit); the handle's sweeper goroutine
// then runs one pass on a connection of its own, opened for the pass, each
// step its own short immediate transaction:
//
//   - the claim: the lease row of sweepTable is taken unless another
//     handle (of any process) holds it, unexpired, or a pass ended less
//     than a cleanup interval ago; then this handle skips;
//   - chunks: the lease renewed (a handle that lost it stops), the next
//     sweepChunk keys after a cursor read by the primary key (qSweepBound)
//     and the idle ones among them deleted (qSweepRange, the predicate
//     idle): a chunk's work is bounded whatever the table's size and its
//     share of idle rows; the rows added meanwhile reuse the pages freed;
//   - the free pages left given back to the file system, vacuumStep a
//     transaction, and the lease given back with the time the pass ended.
//
// A call of any handle that finds the file locked by a step backs off and
// tries again (busyWait), so it waits for one step at most: between steps
// the sweeper pauses at least as long as the step took, and at least
// minPause, so that calls go first. Its connection being its own, and
// never checkpointing on commit, the checkpoints of the WAL it writes
// (passive, every checkpointEvery steps, outside any transaction) hold up
// no call. A pass is housekeeping: on an error, or the lock held by others
// past the busy timeout, it stops and gives its lease back, and the next
// interval starts again from the first key. Close stops the sweeper and
// waits for it (a step in progress ends first, and the sweeper's
// connection is closed) before it closes the handle's.
const (
	// sweepChunk is the most rows a chunk reads and deletes, and
	// sweepChunkBytes the most bytes of keys (one key at least): keys of
	// any length keep a step short.
	sweepChunk      = 256
	sweepChunkBytes = 16 << 10
	// vacuumStep is the most free pages one step gives back; vacuumStepS
	// is its digits, for the pragma.
	vacuumStep  = 64
	vacuumStepS = "64"
	// leaseUS is how long a lease lasts unless renewed, in µs: a handle
	// that stopped (a dead process) keeps the others from sweeping for
	// that long at most. A lease further ahead than that (the clock went
	// back) counts as expired.
	leaseUS = int64(10 * time.Second / time.Microsecond)
	// minPause is the shortest pause between two steps of a pass: twice
	// the longest backoff of a call that found the file locked (busyWait),
	// so that such a call tries again during the pause.
	minPause = 2 * maxBackoff
	// checkpointEvery is how many steps pass between two checkpoints of
	// the sweeper (about 1,000 pages of WAL at most).
	checkpointEvery = 8
	// maxVacuumSteps bounds the pass's last phase, should other handles
	// free pages as fast as it gives them back.
	maxVacuumSteps = 1 << 12
)

// sweeper is a handle's sweeping goroutine and its signals.
type sweeper struct {
	// db, conn and st are the connection of the pass in progress; steps
	// counts the steps done.
	db    *sql.DB
	conn  *sql.Conn
	st    sweepStmts
	steps int

	err    error // what stopped the pass in progress, if not the lease
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

	// holds, when set (by the benchmarks, before the handle is used),
	// gets how long each step held the file's lock, and the CPU time it
	// took (the sweeper's thread locked during the pass to measure it).
	holds func(wall, cpu time.Duration)
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

// pass runs one sweep: the claim, the chunks, the free pages, the end, on
// a connection opened for it.
func (s *store) pass() {
	if s.sw.holds != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if err := s.openSweep(); err != nil {
		s.sweepFailed(err)
		return
	}
	defer s.closeSweep()
	defer func() { s.sweepFailed(s.sw.err) }()
	s.sw.err = nil
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
		n, err := s.chunkLen(cursor)
		if err != nil {
			return false, err
		}
		var hi string
		err = s.sw.st.bound.QueryRowContext(bg, cursor, n-1).Scan(&hi)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = s.sw.st.sweepTail.ExecContext(bg, now, int64(clockSlack), cursor)
			nextLast = true
		case err == nil:
			_, err = s.sw.st.sweepRange.ExecContext(bg, now, int64(clockSlack), cursor, hi)
		}
		if err != nil {
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
	// The free pages, until none is left or a step gave none back (a
	// file made without auto_vacuum=INCREMENTAL, which the pragma cannot
	// change once it has tables, gives none).
	free, before := 1, -1
	vacuum := func(now int64) (bool, error) {
		if ok, err := s.renewLease(now); !ok || err != nil {
			return false, err
		}
		bg := context.Background()
		if err := s.sw.st.free.QueryRowContext(bg).Scan(&free); err != nil {
			return false, err
		}
		if free == before {
			free = 0 // the last step gave none back: done
		}
		if free == 0 {
			return true, nil
		}
		before = free
		return true, drain(s.sw.st.vacuum.QueryContext(bg))
	}
	for i := 0; free > 0 && i < maxVacuumSteps; i++ {
		if !s.sweepStep(vacuum) {
			s.releaseLease()
			return
		}
	}
	if s.sweepStep(func(now int64) (bool, error) {
		_, err := s.sw.st.done.ExecContext(context.Background(), s.sw.id, now)
		return err == nil, err
	}) {
		_ = drain(s.sw.st.checkpoint.QueryContext(context.Background()))
	}
}

// chunkLen is how many keys after cursor the next chunk takes:
// sweepChunk, or fewer when their keys pass sweepChunkBytes (at least one).
func (s *store) chunkLen(cursor string) (int, error) {
	bg := context.Background()
	var bytes int64
	if err := s.sw.st.bytes.QueryRowContext(bg, cursor, sweepChunk).Scan(&bytes); err != nil || bytes <= sweepChunkBytes {
		return sweepChunk, err
	}
	rows, err := s.sw.st.sizes.QueryContext(bg, cursor, sweepChunk)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n, sum := 0, int64(0)
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return 0, err
		}
		if sum += size; n > 0 && sum > sweepChunkBytes {
			break
		}
		n++
	}
	return max(n, 1), rows.Err()
}

// sweepFailed logs err, if any, as the reason a pass stopped, to the
// handle's Policy.Logger (slog.Default when none), once a pass: a file
// whose idle rows are never swept says why.
func (s *store) sweepFailed(err error) {
	if err == nil || s.sw.ctx.Err() != nil {
		return
	}
	log := s.cfg.Policy.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("limiter: sqlite: the sweep of idle rows stopped; it starts again after the cleanup interval", "path", s.path, "err", err)
}

// claimLease takes the lease at now unless another handle holds it or a
// pass ended less than a cleanup interval ago (false: skip).
func (s *store) claimLease(now int64) (bool, error) {
	bg := context.Background()
	var owner, until, swept int64
	switch err := s.sw.st.lease.QueryRowContext(bg).Scan(&owner, &until, &swept); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	case owner != 0 && owner != s.sw.id && until > now && until-now <= leaseUS:
		return false, nil // another handle is sweeping
	case now-swept >= 0 && now-swept < s.cfg.cleanup.Microseconds():
		return false, nil // swept lately, by another handle
	}
	_, err := s.sw.st.claim.ExecContext(bg, s.sw.id, now+leaseUS)
	return err == nil, err
}

// renewLease extends the lease at now if it is still this handle's.
func (s *store) renewLease(now int64) (bool, error) {
	res, err := s.sw.st.renew.ExecContext(context.Background(), s.sw.id, now+leaseUS)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// releaseLease gives the lease back if the file's lock is free (a pass
// cut short; else the lease expires).
func (s *store) releaseLease() {
	_ = s.sweepTx(func(int64) (bool, error) {
		_, err := s.sw.st.release.ExecContext(context.Background(), s.sw.id)
		return err == nil, err
	})
}

// sweepStep runs f in an immediate transaction of its own on the
// sweeper's connection, again while another connection holds the file's
// lock (for up to the busy timeout), then pauses; it reports whether f went
// through and asked to go on. It gives up, false, once the sweeper is
// stopped.
func (s *store) sweepStep(f func(now int64) (bool, error)) bool {
	w := &s.sw
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		if w.ctx.Err() != nil {
			return false
		}
		var c0 time.Duration
		if w.holds != nil {
			c0 = threadCPU()
		}
		t0 := time.Now()
		err := s.sweepTx(f)
		took := time.Since(t0)
		if w.holds != nil && !isBusy(err) {
			w.holds(took, threadCPU()-c0)
		}
		if err == nil {
			w.steps++
		} else if !isBusy(err) && !errors.Is(err, errStop) {
			w.err = err
		}
		if err == nil && w.steps%checkpointEvery == 0 {
			// The WAL into the file, without the lock (passive):
			// the calls' commits then seldom find it long enough
			// to checkpoint it themselves (wal_autocheckpoint).
			_ = drain(w.st.checkpoint.QueryContext(context.Background()))
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
		// The pause: the calls waiting go first. Cut short by stop,
		// the step still counts (the next one gives up).
		_ = backoff.Sleep(w.ctx, max(minPause, took))
		return err == nil
	}
}

// sweepTx runs f in an immediate transaction on the sweeper's connection,
// at the clock read after the lock is taken; a false from f rolls back.
func (s *store) sweepTx(f func(now int64) (bool, error)) (err error) {
	bg := context.Background()
	st := &s.sw.st
	if _, err := st.begin.ExecContext(bg); err != nil {
		return err
	}
	ok, err := f(s.nowUS())
	if err != nil || !ok {
		if err == nil {
			err = errStop
		}
		if _, rerr := st.rollback.ExecContext(bg); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if _, err = st.commit.ExecContext(bg); err != nil {
		_, _ = st.rollback.ExecContext(bg)
	}
	return err
}

// sweepStmts are the prepared statements of the sweeper's connection.
type sweepStmts struct {
	begin, commit, rollback                    *sql.Stmt
	bound, bytes, sizes, sweepRange, sweepTail *sql.Stmt
	lease, claim, renew, release, done         *sql.Stmt
	vacuum, free, checkpoint                   *sql.Stmt
}

// openSweep opens the sweeper's connection to the file, if it is there,
// and prepares its statements.
func (s *store) openSweep() (err error) {
	w := &s.sw
	bg := context.Background()
	// mode=rw: a file removed under the handle (whose connection keeps
	// the old one) is not made again by its sweeper.
	if w.db, err = sql.Open("sqlite", dsn(s.path)+"?mode=rw"); err != nil {
		return err
	}
	w.db.SetMaxOpenConns(1)
	defer func() {
		if err != nil {
			s.closeSweep()
		}
	}()
	if w.conn, err = w.db.Conn(bg); err != nil {
		return err
	}
	for _, q := range []string{"PRAGMA busy_timeout = 0", "PRAGMA synchronous = NORMAL", "PRAGMA wal_autocheckpoint = 0"} {
		if _, err := w.conn.ExecContext(bg, q); err != nil {
			return err
		}
	}
	st := &w.st
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&st.begin, qBegin}, {&st.commit, qCommit}, {&st.rollback, qRollback},
		{&st.bound, qSweepBound}, {&st.bytes, qSweepBytes}, {&st.sizes, qSweepSizes},
		{&st.sweepRange, qSweepRange}, {&st.sweepTail, qSweepTail},
		{&st.lease, qLease}, {&st.claim, qClaim}, {&st.renew, qRenew}, {&st.release, qRelease}, {&st.done, qDone},
		{&st.vacuum, qVacuumStep}, {&st.free, qFree}, {&st.checkpoint, qCheckpoint},
	} {
		if *p.dst, err = w.conn.PrepareContext(bg, p.q); err != nil {
			return err
		}
	}
	return nil
}

// closeSweep closes the sweeper's statements and connection.
func (s *store) closeSweep() {
	w := &s.sw
	st := &w.st
	for _, p := range []*sql.Stmt{st.begin, st.commit, st.rollback, st.bound, st.bytes, st.sizes, st.sweepRange, st.sweepTail,
		st.lease, st.claim, st.renew, st.release, st.done, st.vacuum, st.free, st.checkpoint} {
		if p != nil {
			p.Close()
		}
	}
	w.st = sweepStmts{}
	if w.conn != nil {
		w.conn.Close()
	}
	if w.db != nil {
		w.db.Close()
	}
	w.db, w.conn = nil, nil
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

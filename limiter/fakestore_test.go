package limiter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/memstore"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// fakeStore is the driver.Store of the core's tests: the in-process store
// (internal/memstore) behind knobs that make it fail, lose replies, or
// take time, as a Redis that is down, flaps or is slow would.
//
// Allow, Reserve, Hold, Status and Reset fail while failing is set (or for
// the next failNext of them) with an UnavailableError. Cancel never fails:
// it is what giving a slot back on the store costs, and the failure tests
// drive the deciding calls.
type fakeStore struct {
	mem memstore.Store
	// st is the store's State: a memory.Limiter on it sees what the
	// store holds.
	st *memstore.State

	failing  atomic.Bool
	failNext atomic.Int64
	// lose, once set, makes the next Allow, Reserve or Hold that the
	// store decides report a failure: a reply lost after the store took
	// the slot.
	lose   atomic.Bool
	calls  atomic.Int64 // calls that are not Status (the probe's) or Cancel
	holds  atomic.Int64 // Holds the store took
	closed atomic.Bool

	mu       sync.Mutex
	maxWaits []time.Duration  // of every Reserve that reached the store
	reqs     []driver.Request // every request but Cancel that reached the store

	// onFail, when set, is called as a call fails (a call that takes
	// time); answered after the store decided an Allow and before its
	// answer returns (an answer in flight); holding as a Hold reaches
	// the store.
	onFail, answered, holding func()
}

var _ driver.Store = (*fakeStore)(nil)

// newFakeStore is a fakeStore on a State of its own on the clock now.
func newFakeStore(now func() time.Time) *fakeStore {
	st := memstore.NewState(now)
	return &fakeStore{mem: memstore.New(st), st: st}
}

// down reports the failure of a call of op, if the knobs ask for one.
func (f *fakeStore) down(op driver.Op) error {
	if op != driver.Status {
		f.calls.Add(1)
	}
	if f.failing.Load() || f.failNext.Add(-1) >= 0 {
		if f.onFail != nil {
			f.onFail()
		}
		return &limiter.UnavailableError{Op: op.String(), Err: errors.New("connection refused")}
	}
	return nil
}

// Do implements driver.Store.
func (f *fakeStore) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	op := batch[0].Op
	if op != driver.Cancel {
		f.mu.Lock()
		for _, r := range batch {
			if r.Op == driver.Reserve {
				f.maxWaits = append(f.maxWaits, time.Duration(r.MaxWait)*time.Microsecond)
			}
			r.Needs = append([]driver.Need(nil), r.Needs...)
			f.reqs = append(f.reqs, r)
		}
		f.mu.Unlock()
	}
	if op != driver.Cancel {
		if err := f.down(op); err != nil {
			return err
		}
	}
	if op == driver.Hold {
		f.holds.Add(1)
		if f.holding != nil {
			f.holding()
		}
	}
	if err := f.mem.Do(ctx, batch, answers); err != nil {
		return err
	}
	var lost error
	switch op {
	case driver.Allow, driver.Reserve, driver.Hold:
		if f.lose.CompareAndSwap(true, false) {
			lost = &limiter.UnavailableError{Op: op.String(), Err: errors.New("i/o timeout (the reply was lost)")}
		}
	}
	if op == driver.Allow && f.answered != nil {
		f.answered()
	}
	return lost
}

// Close implements driver.Store.
func (f *fakeStore) Close() error {
	f.closed.Store(true)
	return nil
}

// MaxWaits are the maxWaits of the Reserves that reached the store.
func (f *fakeStore) MaxWaits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.maxWaits...)
}

// Requests are the requests of op that reached the store.
func (f *fakeStore) Requests(op driver.Op) []driver.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []driver.Request
	for _, r := range f.reqs {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// statusOf asks st about key under limit, as the core's Status does.
func statusOf(ctx context.Context, st driver.Store, key string, limit limiter.Limit) (limiter.Status, error) {
	t := limit.Interval().Microseconds()
	req := []driver.Request{{Op: driver.Status, Needs: []driver.Need{{Key: key, N: 1, T: t, Tau: t * int64(limit.Burst)}}}}
	ans := make([]driver.Answer, 1)
	if err := st.Do(ctx, req, ans); err != nil {
		return limiter.Status{}, err
	}
	a := ans[0].Needs[0]
	us := func(x int64) time.Duration { return time.Duration(x) * time.Microsecond }
	return limiter.Status{Remaining: int(a.Remaining), NextAfter: us(a.NextAfter), FullAfter: us(a.ResetAfter)}, nil
}

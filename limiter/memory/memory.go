package memory

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/gcra"
	"github.com/sharedlimit/sharedlimit/internal/lifecycle"
	"github.com/sharedlimit/sharedlimit/limiter"
)

func init() { limiter.Register("memory", openURL) }

// sweepEvery is how many writes pass between sweeps of idle keys.
const sweepEvery = 4096

// State is the shared store of one or more Limiters: the map of keys and
// its clock. Handles opened on one State share every limit, as processes do
// on one SQLite file.
type State struct {
	mu     sync.Mutex
	tats   map[string]entry
	seq    uint64 // the token of the last write
	writes int
	now    func() time.Time
	epoch  time.Time
}

// entry is a key's tat and the token of the write that stored it: tokens
// never repeat within a State, so that a cancel compares its own write and
// nothing a Reset and later reservations could rebuild.
type entry struct {
	tat int64
	tok uint64
}

// NewState returns an empty State on the clock now (nil: time.Now). The
// clock should carry a monotonic reading, as time.Now's does.
func NewState(now func() time.Time) *State {
	if now == nil {
		now = time.Now
	}
	return &State{tats: make(map[string]entry), now: now, epoch: now()}
}

func (s *State) nowUS() int64 { return s.now().Sub(s.epoch).Microseconds() }

// Len is the number of keys held, idle ones not yet swept included.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tats)
}

// store writes tat for key with a new token and returns the entry
// written; called with mu held.
func (s *State) store(key string, tat, now int64) entry {
	s.seq++
	e := entry{tat: tat, tok: s.seq}
	s.tats[key] = e
	if s.writes++; s.writes >= sweepEvery {
		s.writes = 0
		for k, v := range s.tats {
			if gcra.Idle(v.tat, now) {
				delete(s.tats, k)
			}
		}
	}
	return e
}

// Limiter is a handle on a State. It implements limiter.Limiter.
type Limiter struct {
	st *State
	lc *lifecycle.Lifecycle
}

var _ limiter.Limiter = (*Limiter)(nil)

// Option configures New.
type Option func(*Limiter)

// WithState makes the Limiter a handle on st, shared with other handles.
// The default value is a new State of its own.
func WithState(st *State) Option { return func(l *Limiter) { l.st = st } }

// WithClock sets the clock of the Limiter's own State, for tests. It has no
// effect together with WithState. The default value is time.Now.
func WithClock(now func() time.Time) Option {
	return func(l *Limiter) {
		if l.st == nil {
			l.st = NewState(now)
		}
	}
}

// New returns an in-process Limiter.
func New(opts ...Option) *Limiter {
	l := &Limiter{lc: lifecycle.New()}
	for _, o := range opts {
		o(l)
	}
	if l.st == nil {
		l.st = NewState(nil)
	}
	return l
}

func openURL(_ context.Context, u *url.URL) (limiter.Limiter, error) {
	if err := limiter.CheckOptions(u); err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("limiter: memory URL %q takes no host, user or path: use \"memory://\": %w",
			limiter.Redact(u.String()), limiter.ErrInvalidArgument)
	}
	return New(), nil
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
	s := l.st
	s.mu.Lock()
	now := s.nowUS()
	d := gcra.Allow(s.tats[key].tat, now, p, int64(n))
	if d.OK {
		s.store(key, d.TAT, now)
	}
	s.mu.Unlock()
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
	s := l.st
	s.mu.Lock()
	now := s.nowUS()
	prev, had := s.tats[key]
	d := gcra.Reserve(prev.tat, now, p, int64(n), gcra.MaxWaitUS(maxWait))
	var mine entry
	if d.OK {
		mine = s.store(key, d.TAT, now)
	}
	s.mu.Unlock()
	if !d.OK {
		return &limiter.Reservation{Remaining: int(d.Remaining), RetryAfter: gcra.US(d.RetryAfter), ResetAfter: gcra.US(d.ResetAfter)}, nil
	}
	delay := gcra.US(d.Wait)
	var pin *lifecycle.Pin
	if delay > 0 && limiter.IsWaiting(ctx) {
		// Close gives the slots of Waits back, newest first.
		pin = l.lc.Pin(delay, d.TAT)
	}
	cancel := func(context.Context) error {
		if pin != nil {
			defer pin.Release()
		}
		// Compare-and-set on the token: only when this reservation's
		// write is still the last one, and then back to exactly what
		// it replaced (token included), so that cancels run newest
		// first chain.
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur, ok := s.tats[key]; ok && cur == mine {
			if had {
				s.tats[key] = prev
			} else {
				delete(s.tats, key)
			}
		}
		return nil
	}
	r := limiter.NewReservation(delay, int(d.Remaining), gcra.US(d.ResetAfter), cancel)
	if pin != nil {
		pin.GiveBack(r.Cancel)
	}
	return r, nil
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
	s := l.st
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowUS()
	s.store(key, gcra.Hold(s.tats[key].tat, now, gcra.ParamsOf(limit), d.Microseconds()), now)
	return nil
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
	l.st.mu.Lock()
	delete(l.st.tats, key)
	l.st.mu.Unlock()
	return nil
}

// Status implements limiter.Limiter.
func (l *Limiter) Status(ctx context.Context, key string, limit limiter.Limit) (limiter.Status, error) {
	if err := limiter.CheckArgs(key, limit, 1); err != nil {
		return limiter.Status{}, err
	}
	if err := l.enter(ctx); err != nil {
		return limiter.Status{}, err
	}
	defer l.lc.Leave()
	s := l.st
	s.mu.Lock()
	defer s.mu.Unlock()
	return gcra.Status(s.tats[key].tat, s.nowUS(), gcra.ParamsOf(limit)), nil
}

// Done implements limiter.Limiter.
func (l *Limiter) Done() <-chan struct{} { return l.lc.Done() }

// Close implements limiter.Limiter: the slots of Waits in flight are given
// back newest first, then Waits return limiter.ErrClosed. The State stays
// usable by other handles.
func (l *Limiter) Close() error { return l.lc.Close(nil) }

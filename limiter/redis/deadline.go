package redis

import (
	"context"
	"time"
)

// bound returns ctx limited to the timeout, unless ctx ends sooner anyway.
//
// A context that can never be cancelled (Background and its values) is
// given the store's shared deadline instead of a timer of its own: a timer
// per call costs several percent of throughput when the client and Redis
// share the CPUs. The shared deadline is renewed every eighth of the
// timeout, so such a call is cut after between 7/8 of the timeout and all
// of it.
func (s *store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) <= s.timeout {
		return ctx, func() {}
	}
	if ctx.Done() == nil {
		return sharedCtx{Context: ctx, d: s.deadline(now)}, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// deadline returns the shared deadline context, renewing it when less than
// 7/8 of the timeout is left.
func (s *store) deadline(now time.Time) context.Context {
	if d := s.shared.Load(); d != nil && d.end.Sub(now) >= s.timeout-s.timeout/8 {
		return d.ctx
	}
	s.sharedMu.Lock()
	defer s.sharedMu.Unlock()
	if d := s.shared.Load(); d != nil && d.end.Sub(now) >= s.timeout-s.timeout/8 {
		return d.ctx
	}
	end := now.Add(s.timeout)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	// The one replaced releases its timer at its own deadline, which
	// the calls still using it need.
	s.shared.Store(&sharedDeadline{ctx: ctx, cancel: cancel, end: end})
	return ctx
}

// sharedDeadline is a deadline context shared by calls started within an
// eighth of the timeout of each other.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	end    time.Time
}

// sharedCtx is a caller's context that cannot be cancelled (its values),
// with the shared deadline's Deadline, Done and Err.
type sharedCtx struct {
	context.Context
	d context.Context
}

func (c sharedCtx) Deadline() (time.Time, bool) { return c.d.Deadline() }
func (c sharedCtx) Done() <-chan struct{}       { return c.d.Done() }
func (c sharedCtx) Err() error                  { return c.d.Err() }

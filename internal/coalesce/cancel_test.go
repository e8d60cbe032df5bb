package coalesce

import (
	"context"
	"errors"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// A caller whose context ends while it is queued returns at once, and its
// request is never sent.
func TestQueuedCallerLeaves(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Allow, "2", 1)
	c := startQueued(t, s, driver.Reserve, "3", 2)
	d := startQueued(t, s, driver.Allow, "4", 3)
	c.cancel()
	if err := c.result(t); !errors.Is(err, context.Canceled) {
		t.Errorf("queued caller whose context ended: %v, want context.Canceled", err)
	}
	waitQueued(t, s, 2)
	release()
	batch := f.expect(t, true, true, "2", "4")
	batch.grant()
	b.granted(t)
	d.granted(t)
}

// A caller whose request was sent returns at once with its context's
// error; the answer it leaves decides what is sent for it later: a
// granted Reservation is given back by a Cancel carrying its Undo, in the
// next batch before the requests queued meanwhile; nothing else is.
func TestSentCallerLeaves(t *testing.T) {
	boom := errors.New("store down")
	tests := []struct {
		name   string
		op     driver.Op
		reply  func(c *call) func([]driver.Answer) error
		cancel bool // a Cancel of Undo "undo-2" is sent
	}{
		{"granted Reserve", driver.Reserve, (*call).granted, true},
		{"refused Reserve", driver.Reserve, func(*call) func([]driver.Answer) error {
			return func(a []driver.Answer) error { a[0] = driver.Answer{RetryAfter: 5}; return nil }
		}, false},
		{"granted Allow", driver.Allow, (*call).granted, false},
		{"Reserve with its own error", driver.Reserve, func(c *call) func([]driver.Answer) error {
			return func(a []driver.Answer) error { a[0] = driver.Answer{OK: true, Undo: "undo-2", Err: boom}; return nil }
		}, false},
		{"failed batch", driver.Reserve, func(*call) func([]driver.Answer) error {
			return func([]driver.Answer) error { return boom }
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s := newBatching(t, Options{})
			release := busy(t, s, f)
			b := startQueued(t, s, tt.op, "2", 1)
			release()
			sent := f.expect(t, false, true, "2")
			b.cancel()
			if err := b.result(t); !errors.Is(err, context.Canceled) {
				t.Fatalf("sent caller whose context ended: %v, want context.Canceled at once", err)
			}
			if sent.ctx.Err() != nil {
				t.Fatalf("the caller's leaving ended the batch's context: %v", sent.ctx.Err())
			}
			c := startQueued(t, s, driver.Allow, "3", 1)
			sent.reply <- tt.reply(sent)

			next := f.next(t)
			if tt.cancel {
				checkCall(t, next, true, true, "", "3")
				if next.ops[0] != driver.Cancel || next.undos[0] != "undo-2" {
					t.Fatalf("first request of the next batch: %v with Undo %v, want Cancel of undo-2", next.ops[0], next.undos[0])
				}
			} else {
				checkCall(t, next, false, true, "3")
			}
			next.grant()
			c.granted(t)
			// The Cancel is the Store's own: no caller's request,
			// and it shares the round trip of 3.
			checkStats(t, s, 3, 3)
			oneInFlight(t, f)
		})
	}
}

// The Cancel of a reservation whose caller left goes even when nothing
// else is queued, before the Store is idle again.
func TestOrphanCancelGoesAlone(t *testing.T) {
	f := newFake()
	s := newStore(t, f, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Reserve, "2", 1)
	release()
	sent := f.next(t)
	b.cancel()
	if err := b.result(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("sent caller: %v, want context.Canceled", err)
	}
	sent.grant()
	c := f.next(t)
	if len(c.ops) != 1 || c.ops[0] != driver.Cancel || c.undos[0] != "undo-2" || c.caller != nil {
		t.Fatalf("after the abandoned grant the store got %v %v from %v, want one Cancel of undo-2 from the sender", c.ops, c.undos, c.caller)
	}
	c.grant()
	// Then the Store is idle: the next call goes alone.
	waitIdle(t, s)
	d := start(t, s, driver.Allow, "4")
	alone := f.expect(t, false, false, "4")
	alone.grant()
	d.granted(t)
}

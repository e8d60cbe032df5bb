package coalesce

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// A queued caller's answer lands in its own answers: its Needs in the
// memory it gave when it has room, never in the Store's or the inner
// store's memory, so that later batches (reusing the Store's waiters and
// scratch) leave it alone.
func TestAnswerNeedsAreTheCallers(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Reserve, "2", 1)
	c := startQueued(t, s, driver.Allow, "3", 2)
	c.ans[0].Needs = nil // no room of its own: it gets fresh memory
	own := &b.ans[0].Needs[:1][0]
	release()

	batch := f.next(t)
	grant := batch.granted()
	stored := make(chan [2]*driver.NeedAnswer, 1)
	batch.reply <- func(answers []driver.Answer) error {
		grant(answers)
		stored <- [2]*driver.NeedAnswer{&answers[0].Needs[0], &answers[1].Needs[0]}
		return nil
	}
	b.granted(t)
	c.granted(t)
	inner := <-stored
	if &b.ans[0].Needs[0] != own {
		t.Error("caller 2's answer Needs are not in the memory it gave")
	}
	if &b.ans[0].Needs[0] == inner[0] || &c.ans[0].Needs[0] == inner[1] {
		t.Error("a caller's answer Needs alias the memory the inner store wrote")
	}

	// Later batches through the same waiters and scratch.
	for round := range 3 {
		d := start(t, s, driver.Allow, "10")
		alone := f.next(t)
		var cs []*caller
		for i := range 2 {
			cs = append(cs, startQueued(t, s, driver.Reserve, strconv.Itoa(20+2*round+i), i+1))
		}
		alone.grant()
		d.granted(t)
		f.next(t).grant()
		for _, x := range cs {
			x.granted(t)
		}
	}
	if b.ans[0].Needs[0].Remaining != 2 || c.ans[0].Needs[0].Remaining != 3 || b.ans[0].Undo != "undo-2" {
		t.Errorf("later batches changed earlier answers: caller 2 %+v, caller 3 %+v", b.ans[0], c.ans[0])
	}
}

// The Store sends a copy of a queued caller's request: a caller that left
// after its request was sent may reuse its memory at once, and the inner
// store still reads what was asked. Requests of more needs than a waiter
// holds inline go whole, and their answers come back whole.
func TestRequestNeedsAreCopied(t *testing.T) {
	f, s := newBatching(t, Options{})
	release := busy(t, s, f)
	b := startQueued(t, s, driver.Reserve, "2", 1)

	// A request of 6 needs, keys 30..35.
	ctx := context.Background()
	wide := driver.Request{Op: driver.Allow}
	for i := range 6 {
		wide.Needs = append(wide.Needs, driver.Need{Key: strconv.Itoa(30 + i), N: 1, T: 1, Tau: 1})
	}
	wideAns := []driver.Answer{{}}
	wideDone := make(chan error, 1)
	go func() { wideDone <- s.Do(ctx, []driver.Request{wide}, wideAns) }()
	waitQueued(t, s, 2)
	release()

	batch := f.expect(t, true, true, "2", "30")
	b.cancel()
	if err := b.result(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("sent caller: %v, want context.Canceled", err)
	}
	// The caller reuses its request's memory.
	b.req[0].Needs[0] = driver.Need{Key: "reused", N: 99}
	b.req[0].Op = driver.Reset
	seen := make(chan []driver.Request, 1)
	batch.reply <- func(answers []driver.Answer) error {
		reqs := make([]driver.Request, len(batch.reqs))
		for i, r := range batch.reqs {
			reqs[i] = r
			reqs[i].Needs = append([]driver.Need(nil), r.Needs...)
		}
		seen <- reqs
		for i, r := range batch.reqs {
			answers[i] = driver.Answer{OK: true}
			for _, nd := range r.Needs {
				answers[i].Needs = append(answers[i].Needs, driver.NeedAnswer{Remaining: number(nd.Key)})
			}
		}
		answers[0].Undo = "undo-2"
		return nil
	}
	reqs := <-seen
	if r := reqs[0]; r.Op != driver.Reserve || len(r.Needs) != 1 || r.Needs[0] != (driver.Need{Key: "2", N: 1, T: 1, Tau: 1}) {
		t.Errorf("the inner store read %+v, want caller 2's request as it was asked", r)
	}
	if r := reqs[1]; len(r.Needs) != 6 || r.Needs[5].Key != "35" {
		t.Errorf("the inner store read %+v, want all 6 needs", r)
	}
	if err := <-wideDone; err != nil {
		t.Fatal(err)
	}
	if n := wideAns[0].Needs; len(n) != 6 || n[0].Remaining != 30 || n[5].Remaining != 35 {
		t.Errorf("answer of 6 needs: %+v", n)
	}
	f.next(t).grant() // the cancel of caller 2's reservation
}

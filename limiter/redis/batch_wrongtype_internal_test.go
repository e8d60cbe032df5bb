package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// TestBatchWrongType: on a real Redis, a batch in which some requests
// touch a key holding a hash (an Allow, a Reserve, a composite whose
// second need it is, a Hold, a Status, a Reset, and a cancel of a
// reservation on it) gives exactly those requests a *WrongTypeError
// naming that key (permanent: ErrInvalidArgument); every other request of
// the batch, before and after them on the same keys, is decided as one at
// a time; the hash, and the composite's other key, are left as they were.
func TestBatchWrongType(t *testing.T) {
	c := realClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const T = 60_000_000
	need := func(key string, n int64) driver.Need { return driver.Need{Key: key, N: n, T: T, Tau: 2 * T} }
	one := func(op driver.Op, key string) driver.Request {
		return driver.Request{Op: op, Needs: []driver.Need{need(key, 1)}, MaxWait: 3 * T, Hold: 1000}
	}
	bs, ss := newStore(c, "b:"), newStore(c, "s:")
	// A reservation on "bad" while it is still a limit, to cancel once
	// it holds a hash.
	var undo [2]any
	for i, s := range []*store{bs, ss} {
		a := make([]driver.Answer, 1)
		if err := s.Do(ctx, []driver.Request{one(driver.Reserve, "bad")}, a); err != nil || !a[0].OK {
			t.Fatalf("Reserve: %+v, %v", a[0], err)
		}
		undo[i] = a[0].Undo
		if err := c.Del(ctx, s.key("bad")).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, s.key("bad"), "owner", "someone else").Err(); err != nil {
			t.Fatal(err)
		}
	}
	reqs := []driver.Request{
		one(driver.Allow, "good"),
		one(driver.Allow, "bad"),
		one(driver.Reserve, "good"),
		one(driver.Reserve, "bad"),
		{Op: driver.Allow, Needs: []driver.Need{need("{t}:ok", 1), need("{t}:bad", 1)}},
		one(driver.Status, "good"),
		one(driver.Hold, "bad"),
		one(driver.Status, "bad"),
		{Op: driver.Cancel},
		{Op: driver.Allow, Needs: []driver.Need{need("{t}:ok", 1), need("{t}:fine", 2)}},
		one(driver.Reset, "bad"),
		one(driver.Allow, "good"),
		one(driver.Status, "good"),
	}
	bad := map[int]string{1: "bad", 3: "bad", 4: "{t}:bad", 6: "bad", 7: "bad", 8: "bad", 10: "bad"}
	for _, s := range []*store{bs, ss} {
		if err := c.HSet(ctx, s.key("{t}:bad"), "owner", "someone else").Err(); err != nil {
			t.Fatal(err)
		}
	}
	got, want := make([]driver.Answer, len(reqs)), make([]driver.Answer, len(reqs))
	batch := append([]driver.Request(nil), reqs...)
	batch[8].Undo = undo[0]
	if err := bs.DoBatch(ctx, batch, got); err != nil {
		t.Fatalf("DoBatch: %v", err)
	}
	for i, r := range reqs {
		key, isBad := bad[i]
		var wt *WrongTypeError
		switch {
		case isBad && (!errors.As(got[i].Err, &wt) || wt.Key != bs.key(key) || !errors.Is(got[i].Err, limiter.ErrInvalidArgument)):
			t.Errorf("request %d (%s): %v, want a *WrongTypeError naming %q", i, describe(r), got[i].Err, bs.key(key))
		case !isBad && got[i].Err != nil:
			t.Errorf("request %d (%s): %v, want it decided", i, describe(r), got[i].Err)
		}
	}
	// One at a time, the same requests on the good keys (the others fail
	// alone too).
	var goodReqs []driver.Request
	var goodGot []driver.Answer
	for i, r := range reqs {
		if _, isBad := bad[i]; !isBad {
			goodReqs, goodGot = append(goodReqs, r), append(goodGot, got[i])
		}
	}
	want = want[:len(goodReqs)]
	if err := ss.Do(ctx, goodReqs, want); err != nil {
		t.Fatal(err)
	}
	compareSlow(t, "the other requests of the batch", goodReqs, goodGot, want)
	if !goodGot[1].OK || goodGot[4].OK {
		t.Fatalf("the Reserve on good was refused or the third Allow admitted: %+v", goodGot)
	}
	for _, k := range []string{"bad", "{t}:bad"} {
		if typ, err := c.Type(ctx, bs.key(k)).Result(); err != nil || typ != "hash" {
			t.Errorf("%s is now %q (%v), want the hash left alone", bs.key(k), typ, err)
		}
	}
	// The composite on {t}:ok and {t}:bad stored nothing: {t}:ok holds
	// the second composite's charge only, as one at a time.
	for _, s := range []*store{bs, ss} {
		a := make([]driver.Answer, 1)
		if err := s.Do(ctx, []driver.Request{one(driver.Status, "{t}:ok")}, a); err != nil {
			t.Fatal(err)
		}
		if a[0].Needs[0].Remaining != 1 {
			t.Errorf("%s: %d tokens left on {t}:ok, want 1 (the failed composite took none)", s.prefix, a[0].Needs[0].Remaining)
		}
	}
}

// TestBatchWrongTypeCancelTouchesNothingElse: a cancel whose key holds a
// hash, the fifth key of its batch, with a value to restore (had), after
// Statuses of four keys, the first of them empty of tokens. The cancel
// gets its *WrongTypeError, and nothing else changes: batchScript used to
// read the cancel's fields ("5 1 <value>") as a request, a Reset of the
// first key, which emptied it (a full Burst admitted again) while the
// batch failed.
func TestBatchWrongTypeCancelTouchesNothingElse(t *testing.T) {
	c := realClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const T = 60_000_000
	one := func(op driver.Op, key string) driver.Request {
		return driver.Request{Op: op, Needs: []driver.Need{{Key: key, N: 1, T: T, Tau: 2 * T}}, MaxWait: 3 * T}
	}
	s := newStore(c, "w:")
	do := func(r driver.Request) driver.Answer {
		t.Helper()
		a := make([]driver.Answer, 1)
		if err := s.Do(ctx, []driver.Request{r}, a); err != nil || a[0].Err != nil {
			t.Fatalf("%s: %v %v", describe(r), err, a[0].Err)
		}
		return a[0]
	}
	for range 2 {
		if a := do(one(driver.Allow, "victim")); !a.OK {
			t.Fatal("the victim's burst was refused")
		}
	}
	do(one(driver.Reserve, "bad"))
	r := do(one(driver.Reserve, "bad")) // replaced a value: had
	if err := c.Del(ctx, s.key("bad")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.key("bad"), "owner", "someone else").Err(); err != nil {
		t.Fatal(err)
	}
	batch := []driver.Request{one(driver.Status, "victim"), one(driver.Status, "k2"), one(driver.Status, "k3"), one(driver.Status, "k4"),
		{Op: driver.Cancel, Undo: r.Undo}}
	got := make([]driver.Answer, len(batch))
	err := s.DoBatch(ctx, batch, got)
	var wt *WrongTypeError
	if err != nil || !errors.As(got[4].Err, &wt) || wt.Key != s.key("bad") {
		t.Errorf("DoBatch: %v; the cancel: %v, want its *WrongTypeError naming %s", err, got[4].Err, s.key("bad"))
	}
	if a := do(one(driver.Status, "victim")); a.Needs[0].Remaining != 0 {
		t.Fatalf("the victim has %d tokens after the batch, want 0: the batch changed a key no request of it wrote", a.Needs[0].Remaining)
	}
}

package lifecycle

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestEnterAfterClose(t *testing.T) {
	l := New(errClosed)
	if err := l.Enter(); err != nil {
		t.Fatal(err)
	}
	l.Leave()
	var released atomic.Int32
	if err := l.Close(func() error { released.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Enter(); !errors.Is(err, errClosed) {
		t.Fatalf("Enter after Close: %v", err)
	}
	if err := l.Close(func() error { released.Add(1); return nil }); err != nil || released.Load() != 1 {
		t.Fatalf("second Close: %v, release ran %d times", err, released.Load())
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed")
	}
}

// Close waits for a pinned slot to be given back before it releases the
// store.
func TestCloseWaitsForPin(t *testing.T) {
	l := New(errClosed)
	pin := l.Pin(time.Hour, 0)
	var givenBack atomic.Bool
	go func() {
		<-l.Done() // a waiter wakes on Close, gives its slot back
		givenBack.Store(true)
		pin.Release()
	}()
	if err := l.Close(func() error {
		if !givenBack.Load() {
			t.Error("the store was released before the pinned slot was given back")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Close waits for a call in flight and returns as soon as it leaves: it
// wakes on the Leave, not at the end of the grace.
func TestCloseWaitsForCall(t *testing.T) {
	l := New(errClosed)
	if err := l.Enter(); err != nil {
		t.Fatal(err)
	}
	var left atomic.Bool
	closed := make(chan time.Time, 1)
	go func() {
		l.Close(func() error {
			if !left.Load() {
				t.Error("the store was released with a call in flight")
			}
			return nil
		})
		closed <- time.Now()
	}()
	for !l.Closed() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // Close is waiting
	left.Store(true)
	leftAt := time.Now()
	l.Leave()
	select {
	case at := <-closed:
		if d := at.Sub(leftAt); d > Grace/2 {
			t.Fatalf("Close returned %s after the call left, want at once", d)
		}
	case <-time.After(Grace + time.Second):
		t.Fatal("Close did not return")
	}
}

// A pin ends by itself when its slot comes.
func TestPinExpires(t *testing.T) {
	l := New(errClosed)
	l.Pin(time.Millisecond, 0)
	start := time.Now()
	l.Close(nil)
	if time.Since(start) >= Grace {
		t.Fatalf("Close waited the whole grace for a pin whose slot had come")
	}
	if n := l.active.Load(); n != 0 {
		t.Fatalf("%d calls or pins still counted", n)
	}
}

// Close gives the pinned slots back one at a time, newest (highest order)
// first, before it wakes the waiters, and the released pins no longer keep
// it waiting.
func TestCloseGivesBackNewestFirst(t *testing.T) {
	l := New(errClosed)
	var order []int64
	for _, o := range []int64{20, 40, 10, 30} {
		p := l.Pin(time.Hour, o)
		p.GiveBack(func(context.Context) error {
			select {
			case <-l.Done():
				t.Error("a slot was given back after the waiters were woken")
			default:
			}
			order = append(order, o)
			p.Release()
			return nil
		})
	}
	start := time.Now()
	if err := l.Close(nil); err != nil {
		t.Fatal(err)
	}
	if want := []int64{40, 30, 20, 10}; !slices.Equal(order, want) {
		t.Fatalf("given back in order %v, want %v", order, want)
	}
	if time.Since(start) >= Grace {
		t.Fatalf("Close waited the whole grace for pins that were given back")
	}
}

var errClosed = errors.New("closed")

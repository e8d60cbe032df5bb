package lifecycle

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

func TestEnterAfterClose(t *testing.T) {
	l := New()
	if err := l.Enter(); err != nil {
		t.Fatal(err)
	}
	l.Leave()
	var released atomic.Int32
	if err := l.Close(func() error { released.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Enter(); !errors.Is(err, limiter.ErrClosed) {
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
	l := New()
	unpin := l.Pin(time.Hour)
	var givenBack atomic.Bool
	go func() {
		<-l.Done() // a waiter wakes on Close, gives its slot back
		givenBack.Store(true)
		unpin()
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

// A pin ends by itself when its slot comes.
func TestPinExpires(t *testing.T) {
	l := New()
	l.Pin(time.Millisecond)
	start := time.Now()
	l.Close(nil)
	if time.Since(start) >= Grace {
		t.Fatalf("Close waited the whole grace for a pin whose slot had come")
	}
	if n := l.active.Load(); n != 0 {
		t.Fatalf("%d calls or pins still counted", n)
	}
}

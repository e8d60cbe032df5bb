package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// TestCloseEndsBusyWait: a call waiting for another process's write lock
// (within the busy timeout, 30 s by default, 20 s here) ends as soon as
// the Limiter is closed, with an error matching ErrClosed, and Close
// returns at once: it used to wait out the lifecycle's grace (5 s) for
// the call and then the rest of the busy timeout for the connection.
func TestCloseEndsBusyWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	l := open(t, path, sqlite.WithBusyTimeout(20*time.Second))
	lockFile(t, path)
	done := make(chan error, 1)
	go func() {
		_, err := l.AllowN(context.Background(), "k", limiter.Every(time.Hour), 1)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the call is in its busy wait
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s with a call waiting for the write lock, want it prompt", took)
	}
	select {
	case err := <-done:
		if !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("AllowN waiting for the lock at Close: %v, want ErrClosed", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("AllowN still waiting for the lock 25 s after Close")
	}
}

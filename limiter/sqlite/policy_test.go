package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

// lockFile takes the write lock of path through a connection of its own,
// as another process in a long transaction would; the returned function
// releases it (and runs as a cleanup too).
func lockFile(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.Close()
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			_, _ = c.ExecContext(ctx, "ROLLBACK")
			c.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// events records the kinds of an Observer's events.
type events struct {
	mu    sync.Mutex
	kinds []limiter.EventKind
	ops   []string
}

func (e *events) Observe(_ context.Context, ev limiter.Event) {
	e.mu.Lock()
	e.kinds = append(e.kinds, ev.Kind)
	e.ops = append(e.ops, ev.Op)
	e.mu.Unlock()
}

// count is the number of events of kind k, of operation op unless op is "".
func (e *events) count(k limiter.EventKind, op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for i, x := range e.kinds {
		if x == k && (op == "" || e.ops[i] == op) {
			n++
		}
	}
	return n
}

// TestBusyIsUnavailable: a write lock held by another connection past the
// busy timeout is the file's unavailability, which the failure policy
// handles: FailWait (giving up at once) returns an error matching
// ErrUnavailable that says so; FailOpen admits without the file, reports
// the store error and the switch to the Observer, its probe keeps failing
// while the lock is held (Status takes the lock while the file is locked
// out, so that a read does not pass for an answer), and it goes back to
// the file once the lock is released.
func TestBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	ctx := context.Background()
	lim := limiter.Every(time.Hour)
	wait := open(t, path, sqlite.WithBusyTimeout(20*time.Millisecond), sqlite.WithPolicy(limiter.Policy{UnavailableAfter: -1}))
	obs := &events{}
	fast := limiter.Policy{OnFailure: limiter.FailOpen, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	openL := open(t, path, sqlite.WithBusyTimeout(20*time.Millisecond), sqlite.WithObserver(obs), sqlite.WithPolicy(fast))
	if openL.Observer() != limiter.Observer(obs) {
		t.Fatal("WithPolicy after WithObserver dropped the Observer")
	}
	release := lockFile(t, path)

	_, err := wait.AllowN(ctx, "k", lim, 1)
	if !errors.Is(err, limiter.ErrUnavailable) || !strings.Contains(err.Error(), "held the write lock") {
		t.Fatalf("AllowN with the file locked, policy wait: %v; want ErrUnavailable naming the lock", err)
	}
	for i := range 2 {
		r, err := openL.AllowN(ctx, "k", lim, 1)
		if err != nil || !r.Allowed {
			t.Fatalf("AllowN %d with the file locked, policy open: %+v, %v; want admitted without the file", i, r, err)
		}
	}
	// The probe finds the file still locked, again and again: a read
	// alone would answer, but the file cannot be written.
	deadline := time.Now().Add(5 * time.Second)
	for obs.count(limiter.EventStoreError, "probe") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("policy open, file locked: no 3 failed probes in 5 s (degraded %v, events %v): the probe took a read for an answer",
				openL.Degraded(), obs.kinds)
		}
		time.Sleep(time.Millisecond)
	}
	if !openL.Degraded() || obs.count(limiter.EventPolicySwitch, "") != 1 {
		t.Fatalf("policy open, file locked: degraded %v, events %v; want degraded after one switch", openL.Degraded(), obs.kinds)
	}
	release()
	deadline = time.Now().Add(5 * time.Second)
	for openL.Degraded() {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not find the file again within 5 s of the lock's release")
		}
		time.Sleep(time.Millisecond)
	}
	// The file decides again: one token of Every(1h), then refused.
	if r, err := openL.AllowN(ctx, "k", lim, 1); err != nil || !r.Allowed {
		t.Fatalf("first AllowN after recovery: %+v, %v", r, err)
	}
	if r, err := wait.AllowN(ctx, "k", lim, 1); err != nil || r.Allowed {
		t.Fatalf("second AllowN after recovery, on another handle: %+v, %v; want refused (the file decides)", r, err)
	}
}

// TestNewBadPolicy: an invalid policy fails New, naming it.
func TestNewBadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rate-limit.sqlite")
	l, err := sqlite.New(context.Background(), path, sqlite.WithPolicy(limiter.Policy{FallbackShare: 2}))
	if err == nil {
		l.Close()
		t.Fatal("New with FallbackShare 2 succeeded")
	}
	if !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), "FallbackShare") {
		t.Fatalf("New with FallbackShare 2: %v; want ErrInvalidArgument naming FallbackShare", err)
	}
}

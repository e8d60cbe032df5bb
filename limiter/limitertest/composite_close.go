package limitertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// testCompositeCloseGivesBack: Close gives back the slots of composite
// Waits newest first even when the newer one binds on a key whose tat is
// below the older one's binding tat. X = {a, b} binds on a (queued an hour
// out); Y = {b, c}, taken after X, binds on b, whose tat is lower. Giving X
// back first finds b touched by Y and leaves it; Y then restores b to X's
// write, and b stays charged. Newest first, every key is given back.
func testCompositeCloseGivesBack(t *testing.T, h Harness) {
	a, b, c := key(t), key(t), key(t)
	l, probe, errs := closeStart(t, h, a)
	bg := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		errs <- limiter.WaitAll(bg, l, limiter.Need{Key: a, Limit: closeHour, N: 1}, limiter.Need{Key: b, Limit: closeTenMin, N: 1})
	})
	// Y only once X's slot shows on b.
	waitStatus(t, l, probe, b, closeTenMin, func(st limiter.Status) bool { return st.FullAfter > 0 })
	wg.Go(func() {
		errs <- limiter.WaitAll(bg, l, limiter.Need{Key: b, Limit: closeTenMin, N: 1}, limiter.Need{Key: c, Limit: closeTenMin, N: 1})
	})
	waitStatus(t, l, probe, c, closeTenMin, func(st limiter.Status) bool { return st.FullAfter > 0 })
	closeGivesBack(t, l, probe, &wg, errs, "two composite Waits",
		[]keyFull{{a, closeHour, time.Hour}, {b, closeTenMin, 0}, {c, closeTenMin, 0}})
}

// testMixedCloseGivesBack: Close gives back a one-need Wait and a
// composite Wait taken after it on the same key newest first. X = Wait on
// a, queued an hour out; Y = {a, b}, taken after X, queued behind it on a.
// Giving X back first finds a touched by Y and leaves it; Y then restores a
// to X's write, and a stays charged an hour more than before either.
func testMixedCloseGivesBack(t *testing.T, h Harness) {
	a, b := key(t), key(t)
	l, probe, errs := closeStart(t, h, a)
	bg := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { errs <- limiter.Wait(bg, l, a, closeHour, 1) })
	// Y only once X's slot shows on a.
	waitStatus(t, l, probe, a, closeHour, func(st limiter.Status) bool { return st.FullAfter > 90*time.Minute })
	wg.Go(func() {
		errs <- limiter.WaitAll(bg, l, limiter.Need{Key: a, Limit: closeHour, N: 1}, limiter.Need{Key: b, Limit: closeTenMin, N: 1})
	})
	waitStatus(t, l, probe, b, closeTenMin, func(st limiter.Status) bool { return st.FullAfter > 0 })
	closeGivesBack(t, l, probe, &wg, errs, "a Wait and a composite Wait behind it",
		[]keyFull{{a, closeHour, time.Hour}, {b, closeTenMin, 0}})
}

// The limits of the Close tests: a's slots an hour apart, the other keys'
// ten minutes.
var (
	closeHour   = limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	closeTenMin = limiter.Limit{Rate: 1, Period: 10 * time.Minute, Burst: 1}
)

// closeStart opens the Limiter under test (its own Close is the test's)
// and a probe, and takes a's slot of hour, so that the next Wait on a
// queues an hour out; the queued Waits report on errs (room for two).
func closeStart(t *testing.T, h Harness, a string) (l, probe limiter.Limiter, errs chan error) {
	t.Helper()
	l, probe = h.Open(t), open(t, h)
	if err := limiter.Wait(context.Background(), l, a, closeHour, 1); err != nil {
		t.Fatal(err)
	}
	return l, probe, make(chan error, 2)
}

// keyFull is a key, its limit, and the longest it may be full in after
// Close gave its Waits back.
type keyFull struct {
	key   string
	limit limiter.Limit
	most  time.Duration
}

// closeGivesBack closes l while the Waits wg counts are queued, checks that
// each returned ErrClosed (on errs), then that probe finds every key full
// within its most (what: the Waits given back, for the messages).
func closeGivesBack(t *testing.T, l, probe limiter.Limiter, wg *sync.WaitGroup, errs chan error, what string, keys []keyFull) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, limiter.ErrClosed) {
			t.Errorf("a Wait of %s in flight at Close returned %v, want ErrClosed", what, err)
		}
	}
	for _, k := range keys {
		st, err := probe.Status(context.Background(), k.key, k.limit)
		if err != nil {
			t.Fatal(err)
		}
		if st.FullAfter > k.most+time.Second {
			t.Errorf("after Close gave back %s, %s is full in %s, want at most %s (given back newest first)",
				what, k.key, st.FullAfter, k.most)
		}
	}
}

// waitStatus polls probe's Status of key until ok, for up to 10 s; l is
// closed on failure so that its Waits end.
func waitStatus(t *testing.T, l, probe limiter.Limiter, key string, limit limiter.Limit, ok func(limiter.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := probe.Status(context.Background(), key, limit)
		if err != nil {
			l.Close()
			t.Fatal(err)
		}
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			l.Close()
			t.Fatalf("the waiting slot never showed on %s: %+v", key, st)
		}
		time.Sleep(time.Millisecond)
	}
}

package testutil_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := testutil.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(3 * time.Second)
	c.Advance(-time.Second)
	if got, want := c.Now(), start.Add(2*time.Second); !got.Equal(want) {
		t.Fatalf("after +3 s and -1 s, Now = %v, want %v", got, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set, Now = %v, want %v", got, start)
	}
}

func TestLogBufferKeepsEveryWrite(t *testing.T) {
	var b testutil.LogBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Printf(context.Background(), "line %d", 1)
		}()
	}
	wg.Wait()
	b.Logger().Info("hello", "k", "v")
	out := b.String()
	if n := strings.Count(out, "line 1\n"); n != 8 {
		t.Fatalf("%d Printf lines kept, want 8:\n%s", n, out)
	}
	if !strings.Contains(out, "msg=hello k=v") {
		t.Fatalf("slog line missing:\n%s", out)
	}
}

package testutil_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

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

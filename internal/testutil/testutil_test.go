package testutil_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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

func TestBodyCounterCountsOpenBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	c := &testutil.BodyCounter{Next: srv.Client().Transport}
	resp, err := (&http.Client{Transport: c}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Open.Load(); n != 1 {
		t.Fatalf("%d bodies open before Close, want 1", n)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp.Body.Close()
	if c.Attempts.Load() != 1 || c.Opened.Load() != 1 || c.Open.Load() != 0 || c.Read.Load() != 5 {
		t.Fatalf("attempts %d, opened %d, open %d, read %d: want 1, 1, 0, 5",
			c.Attempts.Load(), c.Opened.Load(), c.Open.Load(), c.Read.Load())
	}
}

func TestSleepClockRecordsPauses(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := testutil.NewSleepClock(start)
	var hooked []int
	c.SetOnSleep(func(n int) { hooked = append(hooked, n) })
	if err := c.Sleep(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := c.Sleep(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), start.Add(4*time.Second); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
	if got := c.Sleeps(); len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Fatalf("Sleeps = %v, want [1s 2s]", got)
	}
	if len(hooked) != 2 || hooked[1] != 2 {
		t.Fatalf("hook saw %v, want [1 2]", hooked)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Second); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
}

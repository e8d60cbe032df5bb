package backoff

import (
	"context"
	"testing"
	"time"
)

func TestExpBounds(t *testing.T) {
	lo, hi := 20*time.Millisecond, time.Second
	for attempt := range 80 {
		want := hi
		if attempt < 6 {
			want = lo << attempt
		}
		for range 50 {
			if d := Exp(attempt, lo, hi); d < want/2 || d > want {
				t.Fatalf("Exp(%d) = %s, want in [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
	if d := Exp(3, 0, 0); d != 0 {
		t.Errorf("Exp with zero bounds = %s", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on an ended context = %v", err)
	}
	if err := Sleep(context.Background(), time.Microsecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}

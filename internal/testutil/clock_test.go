package testutil_test

import (
	"context"
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

func TestStepClockSleepWaitsForSet(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := testutil.NewStepClock(start)
	done := make(chan error, 1)
	go func() { done <- c.Sleep(context.Background(), time.Second) }()
	for c.Sleeping() != 1 {
		time.Sleep(time.Millisecond)
	}
	c.Set(start.Add(999 * time.Millisecond))
	select {
	case err := <-done:
		t.Fatalf("Sleep of 1 s ended (%v) with the clock 999 ms on", err)
	case <-time.After(10 * time.Millisecond):
	}
	c.Set(start.Add(time.Second))
	if err := <-done; err != nil || c.Sleeping() != 0 {
		t.Fatalf("Sleep: %v, %d still sleeping; want nil, 0", err, c.Sleeping())
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- c.Sleep(ctx, time.Second) }()
	for c.Sleeping() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled || c.Sleeping() != 0 {
		t.Fatalf("cancelled Sleep: %v, %d still sleeping; want Canceled, 0", err, c.Sleeping())
	}
}

func TestOffsetClockSteps(t *testing.T) {
	var c testutil.OffsetClock
	c.Step(time.Hour)
	if d := c.Now().Sub(time.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("after a step of 1 h, Now is %s ahead", d)
	}
	c.Step(-2 * time.Hour)
	if d := time.Since(c.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("after a step back of 2 h, Now is %s behind", d)
	}
}

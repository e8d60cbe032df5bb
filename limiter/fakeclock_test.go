package limiter_test

import (
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
)

// The core's tests run on the fake clocks of internal/testutil, a Policy's
// Now and Sleep, so that no test sleeps through a backoff.

var clockStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// newFakeTime is a clock whose Sleep moves it and records the pause.
func newFakeTime() *testutil.SleepClock { return testutil.NewSleepClock(clockStart) }

// newStepClock is a clock only the test moves; its Sleep waits for it.
func newStepClock() *testutil.StepClock { return testutil.NewStepClock(clockStart) }

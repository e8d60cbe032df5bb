package limitertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// A backend runs the suite from its own test file. Handles opened by the
// harness share one state, as processes share one store; a store whose
// clock can be moved sets Advance.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		limitertest.Run(t, func(testing.TB) limitertest.Harness {
			st := memory.NewState(nil)
			return limitertest.Harness{
				Open: func(testing.TB) limiter.Limiter { return memory.New(memory.WithState(st)) },
				// Real clock: tables in units of RealUnit, compared within Tolerance.
				Tolerance: 5 * time.Millisecond,
			}
		})
	}
}

// Bound is the promise every backend keeps, and MaxInWindow measures
// recorded admissions against it (CheckWindows does both for a test).
func ExampleBound() {
	lim := limiter.PerSecond(2) // Burst 1: at 0, 0.5, 1.0, 1.5 s ...
	admitted := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	fmt.Println("allowed in any 1s:", limitertest.Bound(lim, time.Second))
	fmt.Println("seen in a 1s window:", limitertest.MaxInWindow(admitted, time.Second))
	fmt.Println("with burst 2, allowed in any 1s:", limitertest.Bound(lim.WithBurst(2), time.Second))
	// Output:
	// allowed in any 1s: 2
	// seen in a 1s window: 2
	// with burst 2, allowed in any 1s: 3
}

package memory_test

import (
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/limitertest"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

func harness(testing.TB) limitertest.Harness {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	st := memory.NewState(clk.Now)
	return limitertest.Harness{
		Open:    func(testing.TB) limiter.Limiter { return memory.New(memory.WithState(st)) },
		Advance: clk.Advance,
	}
}

func TestConformance(t *testing.T) { limitertest.Run(t, harness) }

func TestConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real-clock run of the suite skipped in -short mode")
	}
	limitertest.Run(t, func(testing.TB) limitertest.Harness {
		st := memory.NewState(nil)
		return limitertest.Harness{
			Open:      func(testing.TB) limiter.Limiter { return memory.New(memory.WithState(st)) },
			Tolerance: 5 * time.Millisecond,
			RealUnit:  50 * time.Millisecond,
		}
	})
}

func BenchmarkMemory(b *testing.B) { limitertest.Benchmark(b, harness) }

// TestModel compares random sequences on the memory store with the
// reference model (limitertest.RunModel). The injected clock only goes
// forward: NewState asks for a monotonic clock (its sweep forgets idle
// keys, which a clock stepped back would need again).
func TestModel(t *testing.T) { limitertest.RunModel(t, harness, limitertest.ModelOptions{}) }

// TestModelConcurrent is RunModelConcurrent on the memory store.
func TestModelConcurrent(t *testing.T) {
	limitertest.RunModelConcurrent(t, harness, limitertest.ModelOptions{})
}

package limiter_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		lim     limiter.Limit
		wantSub string // "" means valid
	}{
		{limiter.PerSecond(2), ""},
		{limiter.PerMinute(60), ""},
		{limiter.Every(time.Hour), ""},
		{limiter.Limit{Rate: 0, Period: time.Second, Burst: 1}, "Rate must be > 0, got 0"},
		{limiter.Limit{Rate: -3, Period: time.Second, Burst: 1}, "Rate must be > 0, got -3"},
		{limiter.Limit{Rate: 1, Period: 0, Burst: 1}, "Period must be > 0, got 0s"},
		{limiter.Limit{Rate: 1, Period: -time.Second, Burst: 1}, "Period must be > 0, got -1s"},
		{limiter.Limit{Rate: 1, Period: time.Second, Burst: 0}, "Burst must be >= 1, got 0"},
		{limiter.Limit{Rate: 1, Period: 24 * 365 * 100 * time.Hour, Burst: 1}, "exceeds"},
	}
	for _, tt := range tests {
		err := tt.lim.Validate()
		if tt.wantSub == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tt.lim, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantSub) || !errors.Is(err, limiter.ErrInvalidLimit) {
			t.Errorf("%v: err = %v, want one containing %q and matching ErrInvalidLimit", tt.lim, err, tt.wantSub)
		}
	}
}

func TestInterval(t *testing.T) {
	tests := []struct {
		lim  limiter.Limit
		want time.Duration
	}{
		{limiter.PerSecond(2), 500 * time.Millisecond},
		{limiter.PerSecond(3), 333334 * time.Microsecond}, // rounded up
		{limiter.Limit{Rate: 1, Period: 1500 * time.Nanosecond, Burst: 1}, 2 * time.Microsecond},
		{limiter.Limit{Rate: 1_000_000_000, Period: time.Second, Burst: 1}, time.Microsecond},
		{limiter.Limit{}, 0},
	}
	for _, tt := range tests {
		if got := tt.lim.Interval(); got != tt.want {
			t.Errorf("%v.Interval() = %s, want %s", tt.lim, got, tt.want)
		}
	}
}

func TestPerSecondFloat(t *testing.T) {
	tests := []struct {
		r    float64
		want limiter.Limit
	}{
		{2.0, limiter.Limit{Rate: 2, Period: time.Second, Burst: 1}},
		{0.5, limiter.Limit{Rate: 1, Period: 2 * time.Second, Burst: 1}},
		{1.5, limiter.Limit{Rate: 3, Period: 2 * time.Second, Burst: 1}},
		{0.1, limiter.Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}},
		{350, limiter.Limit{Rate: 350, Period: time.Second, Burst: 1}},
		{1 / math.Pi, limiter.Limit{Rate: 1, Period: 3141592654 * time.Nanosecond, Burst: 1}}, // no small fraction: one per rounded interval
	}
	for _, tt := range tests {
		got, err := limiter.PerSecondFloat(tt.r)
		if err != nil || got != tt.want {
			t.Errorf("PerSecondFloat(%v) = %v, %v; want %v", tt.r, got, err, tt.want)
		}
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1), 1e-10, 1e-12} {
		_, err := limiter.PerSecondFloat(bad)
		if !errors.Is(err, limiter.ErrInvalidLimit) {
			t.Errorf("PerSecondFloat(%v): err = %v, want ErrInvalidLimit", bad, err)
		}
	}
	if _, err := limiter.PerSecondFloat(-2.5); err == nil || !strings.Contains(err.Error(), "-2.5") {
		t.Errorf("PerSecondFloat(-2.5) error does not name the value: %v", err)
	}
}

func TestWithBurstAndString(t *testing.T) {
	l := limiter.PerSecond(2).WithBurst(3)
	if l.Burst != 3 || l.Rate != 2 {
		t.Fatalf("WithBurst: %+v", l)
	}
	if got, want := l.String(), "2/1s (burst 3)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestIntervalOverflow: a Period near the largest Duration, rounded up to
// the microsecond, overflowed into a negative interval that the error of
// Validate showed (issue 13). The interval saturates, and the error names
// no negative duration.
func TestIntervalOverflow(t *testing.T) {
	for _, l := range []limiter.Limit{
		{Rate: 1, Period: math.MaxInt64, Burst: 1},
		{Rate: 1, Period: math.MaxInt64 - 500, Burst: 1},
		{Rate: 1, Period: math.MaxInt64, Burst: math.MaxInt},
		{Rate: math.MaxInt, Period: math.MaxInt64, Burst: math.MaxInt},
	} {
		if iv := l.Interval(); iv <= 0 {
			t.Errorf("%v.Interval() = %s, want positive", l, iv)
		}
		err := l.Validate()
		if !errors.Is(err, limiter.ErrInvalidLimit) {
			t.Errorf("%v.Validate() = %v, want ErrInvalidLimit", l, err)
			continue
		}
		if strings.Contains(err.Error(), "x -") {
			t.Errorf("%v.Validate() = %v: a negative duration", l, err)
		}
	}
}

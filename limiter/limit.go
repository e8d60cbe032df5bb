package limiter

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxTolerance bounds Burst times the emission interval, so that every
// backend's arithmetic (integer microseconds, or Redis float seconds) stays
// exact: 2^50 µs is about 35 years.
const maxTolerance = time.Duration(1<<50) * time.Microsecond

// Limit is Rate events per Period, with bursts of up to Burst events.
//
// The emission interval T = Period/Rate (rounded up to the microsecond) is
// the steady spacing between events. Burst is how many events may happen at
// once after a quiet spell: in any half-open window of length t a Limit
// admits at most ceil(Rate*t/Period) + Burst - 1 events. Burst 1 is the
// strictest: PerSecond(2) admits at 0, 0.5, 1.0 s, never more than 2 in any
// second.
type Limit struct {
	// Rate is the number of events per Period; it must be positive.
	Rate int
	// Period is the length of time Rate applies to; it must be positive.
	Period time.Duration
	// Burst is the most events admitted at one instant; it must be at
	// least 1.
	Burst int
}

// PerSecond is rate events per second with Burst 1.
func PerSecond(rate int) Limit { return Limit{Rate: rate, Period: time.Second, Burst: 1} }

// PerMinute is rate events per minute with Burst 1.
func PerMinute(rate int) Limit { return Limit{Rate: rate, Period: time.Minute, Burst: 1} }

// Every is one event per interval with Burst 1.
func Every(interval time.Duration) Limit { return Limit{Rate: 1, Period: interval, Burst: 1} }

// PerSecondFloat is a Limit of r events per second with Burst 1, for rates
// given as a float: 2.0 is 2 per second, 0.5 is 1 per 2 seconds, 1.5 is 3
// per 2 seconds. A rate that is not a small fraction is rounded to the
// nearest microsecond of emission interval. NaN, infinities and rates that
// are not positive are an error naming the value.
func PerSecondFloat(r float64) (Limit, error) {
	if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
		return Limit{}, fmt.Errorf("limiter: invalid rate %s per second: must be a positive finite number: %w",
			strconv.FormatFloat(r, 'g', -1, 64), ErrInvalidLimit)
	}
	// Look for rate = k/d with a small denominator d (in seconds).
	for d := 1; d <= 1000; d++ {
		k := r * float64(d)
		if rk := math.Round(k); rk >= 1 && math.Abs(k-rk) < 1e-9*k && rk <= math.MaxInt32 {
			return Limit{Rate: int(rk), Period: time.Duration(d) * time.Second, Burst: 1}.checked()
		}
	}
	if float64(time.Second)/r > float64(maxTolerance) {
		return Limit{}, fmt.Errorf("limiter: invalid rate %s per second: one event per more than %s: %w",
			strconv.FormatFloat(r, 'g', -1, 64), maxTolerance, ErrInvalidLimit)
	}
	interval := time.Duration(math.Round(float64(time.Second) / r))
	if interval < time.Microsecond {
		interval = time.Microsecond
	}
	return Every(interval).checked()
}

// WithBurst returns a copy of l with the given Burst.
func (l Limit) WithBurst(burst int) Limit { l.Burst = burst; return l }

// String is "Rate/Period (burst Burst)", for logs and errors.
func (l Limit) String() string {
	return fmt.Sprintf("%d/%s (burst %d)", l.Rate, l.Period, l.Burst)
}

// Interval is the emission interval, Period/Rate rounded up to the
// microsecond: the steady spacing between events. An interval that does
// not fit a time.Duration (Period near its largest value, Rate 1) is the
// largest Duration, never a negative one.
func (l Limit) Interval() time.Duration {
	t := l.intervalUS()
	if t > math.MaxInt64/int64(time.Microsecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(t) * time.Microsecond
}

// intervalUS is the emission interval in microseconds, 0 for a Limit
// without a positive Rate and Period.
func (l Limit) intervalUS() int64 {
	if l.Rate <= 0 || l.Period <= 0 {
		return 0
	}
	us := int64(l.Period / time.Microsecond)
	if l.Period%time.Microsecond != 0 {
		us++
	}
	t := us / int64(l.Rate)
	if us%int64(l.Rate) != 0 {
		t++
	}
	return t
}

// Validate reports an error naming the field and value when l cannot be
// used: Rate or Period not positive, Burst below 1, or Burst times the
// emission interval beyond about 35 years. The error matches
// [ErrInvalidLimit].
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("limiter: invalid Limit: Rate must be > 0, got %d: %w", l.Rate, ErrInvalidLimit)
	case l.Period <= 0:
		return fmt.Errorf("limiter: invalid Limit: Period must be > 0, got %s: %w", l.Period, ErrInvalidLimit)
	case l.Burst < 1:
		return fmt.Errorf("limiter: invalid Limit: Burst must be >= 1, got %d: %w", l.Burst, ErrInvalidLimit)
	}
	// In microseconds: the interval of a Period near the largest
	// Duration does not fit a Duration once rounded up.
	if t, most := l.intervalUS(), int64(maxTolerance/time.Microsecond); int64(l.Burst) > most/t {
		return fmt.Errorf("limiter: invalid Limit %s: Burst x interval (%d x %s) exceeds %s: %w",
			l, l.Burst, l.Interval(), maxTolerance, ErrInvalidLimit)
	}
	return nil
}

func (l Limit) checked() (Limit, error) {
	if err := l.Validate(); err != nil {
		return Limit{}, err
	}
	return l, nil
}

package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
)

// TestCompositeArgumentErrors: a request of several needs that cannot be
// decided is an error naming the need (its index, and its key when it has
// one), from Allow, Reserve and WaitAll alike, and nothing reaches the
// store.
func TestCompositeArgumentErrors(t *testing.T) {
	ok := limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}
	a, b := limiter.Need{Key: "a", Limit: ok, N: 1}, limiter.Need{Key: "b", Limit: ok, N: 2}
	for _, tc := range []struct {
		name  string
		needs []limiter.Need
		is    error
		says  []string // the error names these
		burst *limiter.ExceedsBurstError
	}{
		{"no needs", nil, limiter.ErrInvalidArgument, []string{"at least one Need"}, nil},
		{"empty key", []limiter.Need{a, {Limit: ok, N: 1}}, limiter.ErrInvalidArgument,
			[]string{"empty key", "need 1 of 2"}, nil},
		{"same key twice", []limiter.Need{a, b, {Key: "a", Limit: ok, N: 3}}, limiter.ErrInvalidArgument,
			[]string{`key "a"`, "needs 0 and 2"}, nil},
		{"invalid limit", []limiter.Need{a, {Key: "b", Limit: limiter.Limit{Rate: 0, Period: time.Second, Burst: 1}, N: 1}},
			limiter.ErrInvalidLimit, []string{"need 1 of 2", `key "b"`, "Rate must be > 0, got 0"}, nil},
		{"invalid period", []limiter.Need{{Key: "a", Limit: limiter.Limit{Rate: 1, Period: -time.Second, Burst: 1}, N: 1}, b},
			limiter.ErrInvalidLimit, []string{"need 0 of 2", `key "a"`, "Period must be > 0, got -1s"}, nil},
		{"n zero", []limiter.Need{a, {Key: "b", Limit: ok, N: 0}}, limiter.ErrInvalidArgument,
			[]string{"got 0", `key "b"`, "need 1 of 2"}, nil},
		{"n above burst", []limiter.Need{a, b, {Key: "c", Limit: ok, N: 5}}, limiter.ErrExceedsBurst,
			[]string{"n=5", "burst 4", `key "c"`, "need 2 of 3"},
			&limiter.ExceedsBurstError{Key: "c", N: 5, Limit: ok, Need: 2, Of: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, limiter.Policy{})
			ctx := context.Background()
			_, errAllow := f.g.Allow(ctx, tc.needs...)
			_, errReserve := f.g.Reserve(ctx, time.Second, tc.needs...)
			errWait := limiter.WaitAll(ctx, f.g, tc.needs...)
			for name, err := range map[string]error{"Allow": errAllow, "Reserve": errReserve, "WaitAll": errWait} {
				if !errors.Is(err, tc.is) {
					t.Errorf("%s: %v, want an error matching %v", name, err, tc.is)
					continue
				}
				for _, s := range tc.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: %q does not say %q", name, err, s)
					}
				}
				if tc.burst != nil {
					var eb *limiter.ExceedsBurstError
					if !errors.As(err, &eb) || *eb != *tc.burst {
						t.Errorf("%s: %#v, want %#v", name, eb, tc.burst)
					}
				}
			}
			if n := f.store.calls.Load(); n != 0 {
				t.Errorf("%d calls reached the store", n)
			}
		})
	}
	// A negative maxWait, with valid needs.
	f := newFixture(t, limiter.Policy{})
	_, err := f.g.Reserve(context.Background(), -time.Millisecond, a, b)
	if !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), "got -1ms") {
		t.Errorf("Reserve with maxWait -1ms: %v, want ErrInvalidArgument naming -1ms", err)
	}
	if n := f.store.calls.Load(); n != 0 {
		t.Errorf("%d calls reached the store", n)
	}
}

// oldCheckArgs is limiter.CheckArgs as it was before the core (commit
// 5c36970), the reference the one-need calls must still match.
func oldCheckArgs(key string, limit limiter.Limit, n int) error {
	if key == "" {
		return fmt.Errorf("limiter: empty key: %w", limiter.ErrInvalidArgument)
	}
	if err := limit.Validate(); err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("limiter: n must be >= 1, got %d (key %q): %w", n, key, limiter.ErrInvalidArgument)
	}
	if n > limit.Burst {
		return &limiter.ExceedsBurstError{Key: key, N: n, Limit: limit}
	}
	return nil
}

// TestOneNeedErrorsAsBefore: AllowN, ReserveN, Wait, Status, Hold, and
// Allow and Reserve of one need, give exactly the errors of the calls
// before the core (message, errors.Is, and an ExceedsBurstError without
// Need and Of).
func TestOneNeedErrorsAsBefore(t *testing.T) {
	ok := limiter.Limit{Rate: 10, Period: time.Second, Burst: 4}
	type args struct {
		key   string
		limit limiter.Limit
		n     int
	}
	cases := []args{
		{"", ok, 1},
		{"k", limiter.Limit{Period: time.Second, Burst: 1}, 1},
		{"k", limiter.Limit{Rate: 1, Burst: 1}, 1},
		{"k", limiter.Limit{Rate: 1, Period: time.Second}, 1},
		{"k", limiter.Limit{Rate: 1, Period: time.Hour, Burst: 1 << 40}, 1},
		{"k", ok, 0},
		{"k", ok, -3},
		{"k", ok, 5},
		{"", limiter.Limit{}, 0}, // the key first
	}
	f := newFixture(t, limiter.Policy{})
	ctx := context.Background()
	same := func(t *testing.T, call string, got, want error) {
		t.Helper()
		if got == nil || got.Error() != want.Error() {
			t.Errorf("%s: %v, want %v", call, got, want)
			return
		}
		for _, target := range []error{limiter.ErrInvalidArgument, limiter.ErrInvalidLimit, limiter.ErrExceedsBurst} {
			if errors.Is(got, target) != errors.Is(want, target) {
				t.Errorf("%s: %v matches %v: %v, want %v", call, got, target, errors.Is(got, target), errors.Is(want, target))
			}
		}
		var eb *limiter.ExceedsBurstError
		if errors.As(want, &eb) {
			var geb *limiter.ExceedsBurstError
			if !errors.As(got, &geb) || *geb != *eb {
				t.Errorf("%s: %#v, want %#v", call, geb, eb)
			}
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q %s n=%d", c.key, c.limit, c.n), func(t *testing.T) {
			want := oldCheckArgs(c.key, c.limit, c.n)
			_, err := f.g.AllowN(ctx, c.key, c.limit, c.n)
			same(t, "AllowN", err, want)
			_, err = f.g.Allow(ctx, limiter.Need{Key: c.key, Limit: c.limit, N: c.n})
			same(t, "Allow of one need", err, want)
			_, err = f.g.ReserveN(ctx, c.key, c.limit, c.n, time.Second)
			same(t, "ReserveN", err, want)
			_, err = f.g.Reserve(ctx, time.Second, limiter.Need{Key: c.key, Limit: c.limit, N: c.n})
			same(t, "Reserve of one need", err, want)
			same(t, "Wait", limiter.Wait(ctx, f.g, c.key, c.limit, c.n), want)
			same(t, "WaitAll of one need", limiter.WaitAll(ctx, f.g, limiter.Need{Key: c.key, Limit: c.limit, N: c.n}), want)
			if want := oldCheckArgs(c.key, c.limit, 1); want != nil {
				_, err = f.g.Status(ctx, c.key, c.limit)
				same(t, "Status", err, want)
				same(t, "Hold", f.g.Hold(ctx, c.key, c.limit, time.Second), want)
			}
		})
	}
	// The checks of maxWait, of a Hold's duration and of Reset's key.
	_, err := f.g.ReserveN(ctx, "k", ok, 1, -time.Second)
	same(t, "ReserveN(maxWait -1s)", err, fmt.Errorf("limiter: maxWait must be >= 0, got %s: %w", -time.Second, limiter.ErrInvalidArgument))
	same(t, "Hold(-1s)", f.g.Hold(ctx, "k", ok, -time.Second),
		fmt.Errorf("limiter: Hold duration must be between 0 and %s, got %s (key %q): %w",
			time.Duration(1<<50)*time.Microsecond, -time.Second, "k", limiter.ErrInvalidArgument))
	same(t, "Reset(\"\")", f.g.Reset(ctx, ""), fmt.Errorf("limiter: empty key: %w", limiter.ErrInvalidArgument))
	if reqs := f.store.Requests(driver.Allow); len(reqs) != 0 {
		t.Errorf("%d requests with bad arguments reached the store", len(reqs))
	}
	if n := f.store.calls.Load(); n != 0 {
		t.Errorf("%d calls with bad arguments reached the store", n)
	}
}

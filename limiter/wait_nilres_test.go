package limiter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
)

// nilReserver is a Limiter of a program's own whose reservations come back
// nil without an error (a bug of its own).
type nilReserver struct{ limiter.Limiter }

func (nilReserver) ReserveN(context.Context, string, limiter.Limit, int, time.Duration) (*limiter.Reservation, error) {
	return nil, nil
}

func (nilReserver) Reserve(context.Context, time.Duration, ...limiter.Need) (*limiter.Reservation, error) {
	return nil, nil
}

// TestWaitNilReservation: Wait and WaitAll on a Limiter that returns a nil
// Reservation and no error return an error saying so, not a nil pointer
// panic.
func TestWaitNilReservation(t *testing.T) {
	l := limiter.PerSecond(1)
	err := limiter.Wait(context.Background(), nilReserver{}, "k", l, 1)
	if !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("Wait on a Limiter returning a nil Reservation: %v, want ErrInvalidArgument", err)
	}
	err = limiter.WaitAll(context.Background(), nilReserver{}, limiter.Need{Key: "a", Limit: l, N: 1}, limiter.Need{Key: "b", Limit: l, N: 1})
	if !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("WaitAll on a Limiter returning a nil Reservation: %v, want ErrInvalidArgument", err)
	}
}

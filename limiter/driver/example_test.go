package driver_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/driver"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// countingStore is a Store that counts the batches it is sent and passes
// them on.
type countingStore struct {
	driver.Store
	batches atomic.Int64
}

func (s *countingStore) Do(ctx context.Context, batch []driver.Request, answers []driver.Answer) error {
	s.batches.Add(1)
	return s.Store.Do(ctx, batch, answers)
}

// A backend is a Store; limiter.NewHandle makes it a Limiter. Here a Store
// of the program's own wraps the in-process one.
func Example() {
	st := &countingStore{Store: memory.NewStore(memory.NewState(nil))}
	lim, err := limiter.NewHandle(st, limiter.Policy{})
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	ctx := context.Background()
	perMinute := limiter.Limit{Rate: 60, Period: time.Minute, Burst: 2}
	weight := limiter.Limit{Rate: 24000, Period: time.Minute, Burst: 400}
	for range 3 {
		r, _ := lim.Allow(ctx,
			limiter.Need{Key: "account:42", Limit: perMinute, N: 1},
			limiter.Need{Key: "account:42:weight", Limit: weight, N: 100})
		fmt.Println(r.Allowed, r.Needs[0].Remaining, r.Needs[1].Remaining)
	}
	fmt.Println("batches:", st.batches.Load())
	// Output:
	// true 1 300
	// true 0 200
	// false 0 200
	// batches: 3
}

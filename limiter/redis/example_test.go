package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// A program that already holds a go-redis client passes it to New; Close
// leaves the client open.
func ExampleNew() {
	client := goredis.NewClient(&goredis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	lim, err := redis.New(client, redis.WithPrefix("myapp:"), redis.WithTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// Every process and host using this Redis shares 2 requests per second.
	if err := limiter.Wait(context.Background(), lim, "host:api.example.com", limiter.PerSecond(2), 1); err != nil {
		log.Fatal(err)
	}
}

// Configuration picks the store with a URL; the Limiter owns its client.
func Example_open() {
	lim, err := limiter.Open(context.Background(), "redis://:secret@redis.internal:6379/0?prefix=myapp:&timeout=1s")
	if err != nil {
		log.Fatal(err) // the error never shows the password
	}
	defer lim.Close()
}

// Programs calling redis_rate directly share the budget when they use
// RateKey.
func ExampleRateKey() {
	client := goredis.NewClient(&goredis.Options{Addr: "redis.internal:6379"})
	defer client.Close()
	raw := redis_rate.NewLimiter(client)
	_, _ = raw.Allow(context.Background(), redis.RateKey("myapp:", "host:api.example.com"),
		redis_rate.Limit{Rate: 2, Period: time.Second, Burst: 1})
}

// The GCRA in a Redis whose clock is fixed (miniredis): PerSecond(2) with
// Burst 1 admits one request, then one every half second.
func Example() {
	client, cleanup := fixedClockRedis()
	defer cleanup()
	lim, err := redis.New(client)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	ctx := context.Background()
	for range 2 {
		r, err := lim.AllowN(ctx, "api", limiter.PerSecond(2), 1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("allowed=%v remaining=%d retry after %s\n", r.Allowed, r.Remaining, r.RetryAfter)
	}
	res, err := lim.ReserveN(ctx, "api", limiter.PerSecond(2), 1, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("reserved=%v in %s\n", res.OK, res.Delay)
	// Not needed after all: give the slot back.
	if err := res.Cancel(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(redis.Key("", "api"))
	// Output:
	// allowed=true remaining=0 retry after 0s
	// allowed=false remaining=0 retry after 500ms
	// reserved=true in 500ms
	// rate:{api}
}

// A Lighter-style rule as two needs of one request: 60 requests per minute
// and 24,000 weight per minute for one account, taken together or not at
// all. The keys share the hash tag {account:42}, so that on a Redis
// Cluster they live in one slot and one script decides them.
func ExampleLimiter_Allow() {
	client, cleanup := fixedClockRedis()
	defer cleanup()
	lim, err := redis.New(client, redis.WithPrefix("myapp:"))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	requests := limiter.Limit{Rate: 60, Period: time.Minute, Burst: 60}
	weight := limiter.Limit{Rate: 24_000, Period: time.Minute, Burst: 24_000}
	ctx := context.Background()
	for _, w := range []int{20_000, 6_000} {
		r, err := lim.Allow(ctx,
			limiter.Need{Key: "{account:42}:requests", Limit: requests, N: 1},
			limiter.Need{Key: "{account:42}:weight", Limit: weight, N: w})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("weight %d: allowed=%v requests left %d, weight left %d, binding need %d, retry after %s\n",
			w, r.Allowed, r.Needs[0].Remaining, r.Needs[1].Remaining, r.Binding, r.RetryAfter)
	}
	fmt.Println(redis.Key("myapp:", "{account:42}:weight"))
	// Output:
	// weight 20000: allowed=true requests left 59, weight left 4000, binding need 0, retry after 0s
	// weight 6000: allowed=false requests left 59, weight left 4000, binding need 1, retry after 5s
	// rate:myapp:{account:42}:weight
}

// fixedClockRedis is a client of a new in-process Redis (miniredis) whose
// clock stands at 2025-01-01, and the function that closes both.
func fixedClockRedis() (client *goredis.Client, cleanup func()) {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	m.SetTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	client = goredis.NewClient(&goredis.Options{Addr: m.Addr()})
	return client, func() {
		client.Close()
		m.Close()
	}
}

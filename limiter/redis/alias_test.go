package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// TestCompositeAliasedKeys: with an empty prefix the limit keys "x" and
// "{x}" are one Redis key (redis.Key). A request naming both would read
// that key twice and store it twice, the second write dropping the first
// need's charge: 5 tokens of a 10-token limit charged as 1, so a burst of
// ten requests passed where two may. Such a request is an error naming
// both keys, before any round trip, and stores nothing.
func TestCompositeAliasedKeys(t *testing.T) {
	m, l := openMini(t)
	ctx := context.Background()
	if redis.Key("", "x") != redis.Key("", "{x}") {
		t.Fatalf("Key(\"\", x) = %s, Key(\"\", {x}) = %s: the test wants them one key", redis.Key("", "x"), redis.Key("", "{x}"))
	}
	slow := limiter.Limit{Rate: 10, Period: time.Second, Burst: 10}
	fast := limiter.Limit{Rate: 1000, Period: time.Second, Burst: 10}
	needs := []limiter.Need{{Key: "x", Limit: slow, N: 5}, {Key: "{x}", Limit: fast, N: 1}}
	admitted := 0
	for i := 0; i < 10; i++ {
		r, err := l.Allow(ctx, needs...)
		if err != nil {
			if !errors.Is(err, limiter.ErrInvalidArgument) || !strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), `"{x}"`) {
				t.Fatalf("Allow of aliased keys: %v; want ErrInvalidArgument naming \"x\" and \"{x}\"", err)
			}
			continue
		}
		if r.Allowed {
			admitted++
		}
	}
	// Key x under slow (burst 10) holds at most 2 requests of 5 at once.
	if admitted > 2 {
		t.Fatalf("%d requests of 5 tokens of a 10-token limit admitted at one instant", admitted)
	}
	if m.Exists(redis.Key("", "x")) {
		t.Errorf("an aliased request stored %s", redis.Key("", "x"))
	}
	if _, err := l.Reserve(ctx, time.Second, needs...); !errors.Is(err, limiter.ErrInvalidArgument) {
		t.Errorf("Reserve of aliased keys: %v; want ErrInvalidArgument", err)
	}
}

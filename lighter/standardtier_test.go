package lighter_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sharedlimit/sharedlimit/internal/testutil"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
	"github.com/sharedlimit/sharedlimit/limiter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
	"github.com/sharedlimit/sharedlimit/limiter/redis"
)

// maxInWindow is the most of at (in order) within one rolling window
// (t-w, t], Lighter's rolling minute.
func maxInWindow(at []time.Time, w time.Duration) int {
	most, first := 0, 0
	for i, t := range at {
		for !at[first].After(t.Add(-w)) {
			first++
		}
		most = max(most, i-first+1)
	}
	return most
}

// TestStandardTierKeepsBothLimits: on a manual clock, a standard session
// sends requests to one endpoint as fast as its limiter lets it, for three
// minutes: heavy endpoints are held to the shared 24,000-weight budget
// (changeAccountTier, weight 3,000: 8 at most in any rolling minute;
// trades, 600: at most 40), light ones to 60 requests a minute, and the
// refusals name the need that binds. A fake Lighter counting 24,000
// weight per rolling minute never answers 429. (With the standard tier's
// former one need, 60 requests a minute, changeAccountTier went 60 times
// a minute.)
//
// changeAccountTier goes 7 times a minute, not 8: the weight budget's
// interval is Period/Rate rounded up to the microsecond (60 s / 21,001 =
// 2,857.007 µs, so 2,858 µs), so requests of 3,000 come 8.574 s apart and
// the 8th after 60.018 s. An interval of 2,857 µs (Rate 21,002) would
// admit 8, and up to 24,001 weight in a rolling minute.
func TestStandardTierKeepsBothLimits(t *testing.T) {
	for _, tt := range []struct {
		path        string
		least, most int    // in the busiest rolling minute
		binding     string // the need whose key refuses
		also        string // a need whose key may refuse too
	}{
		{"/api/v1/changeAccountTier", 7, 8, "weight", ""},
		// Five fit the weight burst at once, but the requests limit
		// (burst 1) spaces the first ones 1 s apart.
		{"/api/v1/trades", 39, 40, "weight", "requests"},
		{"/api/v1/account", 60, 60, "requests", ""},
		{"/api/v1/sendTx", 60, 60, "requests", ""},
	} {
		t.Run(strings.TrimPrefix(tt.path, "/api/v1/"), func(t *testing.T) {
			clock := testutil.NewClock(time.Unix(1_700_000_000, 0))
			srv := lightertest.NewServer(lightertest.Options{Limit: 24_000, Window: time.Minute, Jitter: -1,
				Weight: lighter.EndpointWeight, Now: clock.Now})
			defer srv.Close()
			srv.SetPathBody(tt.path, `{"code":200}`)
			lim := memory.New(memory.WithClock(clock.Now))
			defer lim.Close()
			s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, AccountTier: "standard", Retries: lighter.NoRetries})
			keys := map[string]string{"weight": lighter.WeightKey(s.Key()), "requests": s.Key()}
			want, also := keys[tt.binding], keys[tt.also]

			end := clock.Now().Add(3 * time.Minute)
			var sent []time.Time
			refused := map[string]int{}
			for i := 0; clock.Now().Before(end); i++ {
				if i > 2_000 {
					t.Fatalf("no end after %d requests", i)
				}
				// A slot later than 0.9 s (real) away is refused at once:
				// every wait here is 1 s or more of the manual clock.
				ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
				err := s.GetJSON(ctx, tt.path, nil, nil)
				cancel()
				var de *limiter.DeadlineError
				switch {
				case err == nil:
					sent = append(sent, clock.Now())
				case errors.As(err, &de) && de.Needed > 0:
					refused[de.Key]++
					clock.Advance(de.Needed) // to the slot: the next one goes
				default:
					t.Fatalf("request %d: %v", i, err)
				}
			}
			got := maxInWindow(sent, time.Minute)
			t.Logf("%d sent, %d in the busiest rolling minute", len(sent), got)
			if got < tt.least || got > tt.most {
				t.Errorf("%d requests in the busiest rolling minute, want %d to %d", got, tt.least, tt.most)
			}
			if refused[want] == 0 || len(refused) > 2 || len(refused) == 2 && refused[also] == 0 {
				t.Errorf("refusals by key: %v, want them by the %s need %q (or %q)", refused, tt.binding, want, also)
			}
			if st := srv.Stats(); st.TooMany != 0 || st.Total != len(sent) {
				t.Errorf("server: %d requests, %d of them 429, want %d and none", st.Total, st.TooMany, len(sent))
			}
		})
	}
}

// recordingLimiter records the needs of every reservation asked of it.
type recordingLimiter struct {
	limiter.Limiter
	mu    sync.Mutex
	calls [][]limiter.Need
}

func (r *recordingLimiter) record(needs []limiter.Need) {
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(needs))
	r.mu.Unlock()
}

func (r *recordingLimiter) ReserveN(ctx context.Context, key string, lim limiter.Limit, n int, maxWait time.Duration) (*limiter.Reservation, error) {
	r.record([]limiter.Need{{Key: key, Limit: lim, N: n}})
	return r.Limiter.ReserveN(ctx, key, lim, n, maxWait)
}

func (r *recordingLimiter) Reserve(ctx context.Context, maxWait time.Duration, needs ...limiter.Need) (*limiter.Reservation, error) {
	r.record(needs)
	return r.Limiter.Reserve(ctx, maxWait, needs...)
}

// TestTierNeeds: what each tier asks of the limiter per request, as
// Session.Needs says: the default tier and premium one need (as before),
// standard two, the requests on the session's key (still named as
// before) and the endpoint's weight on its weight key; Config.Cost
// replaces the first need's tokens only.
func TestTierNeeds(t *testing.T) {
	srv, _ := scripted(t)
	host := "host:" + strings.TrimPrefix(srv.URL, "http://")
	weight := limiter.Limit{Rate: 21_001, Period: time.Minute, Burst: 3_000}
	perMinute := limiter.Limit{Rate: 60, Period: time.Minute, Burst: 1}
	for _, tt := range []struct {
		name string
		cfg  lighter.Config
		want []limiter.Need
	}{
		{"default", lighter.Config{}, []limiter.Need{{Key: host, Limit: limiter.PerSecond(2), N: 1}}},
		{"premium", lighter.Config{AccountTier: "premium"}, []limiter.Need{{Key: host, Limit: weight, N: 600}}},
		{"standard", lighter.Config{AccountTier: "standard"},
			[]limiter.Need{{Key: host, Limit: perMinute, N: 1}, {Key: "{" + host + "}:weight", Limit: weight, N: 600}}},
		{"standard tagged key", lighter.Config{AccountTier: "standard", RateLimitKey: "{account:42}"},
			[]limiter.Need{{Key: "{account:42}", Limit: perMinute, N: 1}, {Key: "{account:42}:weight", Limit: weight, N: 600}}},
		{"standard with Cost", lighter.Config{AccountTier: "standard", Cost: func(string) int { return 1 }},
			[]limiter.Need{{Key: host, Limit: perMinute, N: 1}, {Key: "{" + host + "}:weight", Limit: weight, N: 600}}},
		{"premium with Cost", lighter.Config{AccountTier: "premium", Cost: func(string) int { return 7 }},
			[]limiter.Need{{Key: host, Limit: weight, N: 7}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim := &recordingLimiter{Limiter: memory.New()}
			defer lim.Limiter.Close()
			cfg := tt.cfg
			cfg.APIURL, cfg.Limiter = srv.URL, lim
			s := newSession(t, cfg)
			if got := s.Needs("/api/v1/trades"); !slices.Equal(got, tt.want) {
				t.Errorf("Needs = %+v, want %+v", got, tt.want)
			}
			if s.Key() != tt.want[0].Key || s.Limit() != tt.want[0].Limit {
				t.Errorf("Key, Limit = %q, %s, want the first need's", s.Key(), s.Limit())
			}
			if err := s.GetJSON(context.Background(), "/api/v1/trades", nil, nil); err != nil {
				t.Fatal(err)
			}
			if len(lim.calls) != 1 || !slices.Equal(lim.calls[0], tt.want) {
				t.Errorf("the limiter was asked for %+v, want one reservation of %+v", lim.calls, tt.want)
			}
		})
	}
}

// TestStandardTier429HoldsBothKeys: a 429 on the standard tier holds the
// requests key and the weight key for its Retry-After, so that every
// Session sharing the store waits, whatever endpoint it calls.
func TestStandardTier429HoldsBothKeys(t *testing.T) {
	srv := tooManyRequests(t, "40")
	start := time.Now()
	lim := memory.New(memory.WithClock(func() time.Time { return start }))
	defer lim.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, AccountTier: "standard", Retries: lighter.NoRetries})
	var se *lighter.StatusError
	if _, err := s.Get(context.Background(), "/api/v1/account", nil); !errors.As(err, &se) || se.StatusCode != 429 {
		t.Fatalf("Get: %v, want a 429 StatusError", err)
	}
	s.Close() // waits for the holds
	tier, _ := lighter.TierByName("standard")
	for key, l := range map[string]limiter.Limit{s.Key(): tier.Limit, lighter.WeightKey(s.Key()): tier.Weight} {
		st, err := lim.Status(context.Background(), key, l)
		if err != nil {
			t.Fatal(err)
		}
		if st.NextAfter != 40*time.Second {
			t.Errorf("%q: next token in %s after a 429 with Retry-After 40, want 40s", key, st.NextAfter)
		}
	}
}

// TestStandardTierTokensCreate: tokens/create (23,000) exceeds the weight
// budget's burst on the standard tier too, and fails at once naming the
// endpoint and the weight need; nothing is sent.
func TestStandardTierTokensCreate(t *testing.T) {
	srv, hits := scripted(t)
	lim := memory.New()
	defer lim.Close()
	s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: lim, AccountTier: "standard"})
	err := s.GetJSON(context.Background(), "/api/v1/tokens/create", nil, nil)
	var eb *limiter.ExceedsBurstError
	if !errors.As(err, &eb) || eb.Key != lighter.WeightKey(s.Key()) || eb.N != 23_000 || eb.Need != 1 || eb.Of != 2 {
		t.Fatalf("tokens/create: %v, want ErrExceedsBurst of the weight need (1 of 2)", err)
	}
	if !strings.Contains(err.Error(), "/api/v1/tokens/create") || !strings.Contains(err.Error(), lighter.WeightKey(s.Key())) {
		t.Errorf("%q does not name the endpoint and the weight key", err)
	}
	if hits.Load() != 0 {
		t.Errorf("server saw %d requests, want none", hits.Load())
	}
}

// TestStandardTierKeysShareASlot: on a Redis Cluster, the standard
// tier's two keys must be in one hash slot (else the request fails with
// the limiter's cross-slot error, before any round trip). The client
// points at a closed port, so a request whose keys pass the slot check
// fails to connect instead: it does under the default prefix, whatever
// the key, and under a prefix with a tagged RateLimitKey; under a prefix
// with an untagged key, the keys are in two slots, as WeightKey says.
func TestStandardTierKeysShareASlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, hits := scripted(t)
	for _, tt := range []struct {
		prefix, key string
		oneSlot     bool
	}{
		{"", "", true},
		{"", "fleet:a", true},
		{"", "{account:42}", true},
		{"app:", "{account:42}", true},
		{"app:", "", false},
	} {
		c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{addr}, MaxRedirects: -1})
		var sent atomic.Int64
		c.AddHook(countHook{&sent})
		l, err := redis.New(c, redis.WithPrefix(tt.prefix), redis.WithTimeout(200*time.Millisecond),
			redis.WithPolicy(limiter.Policy{UnavailableAfter: -1}))
		if err != nil {
			t.Fatal(err)
		}
		s := newSession(t, lighter.Config{APIURL: srv.URL, Limiter: l, AccountTier: "standard", RateLimitKey: tt.key})
		err = s.GetJSON(context.Background(), "/api/v1/account", nil, nil)
		s.Close()
		l.Close()
		c.Close()
		if tt.oneSlot {
			if !errors.Is(err, limiter.ErrUnavailable) || errors.Is(err, limiter.ErrInvalidArgument) {
				t.Errorf("prefix %q, key %q: %v, want the connection's error (keys in one slot)", tt.prefix, s.Key(), err)
			}
		} else if !errors.Is(err, limiter.ErrInvalidArgument) || sent.Load() != 0 {
			t.Errorf("prefix %q, key %q: %v after %d commands, want the cross-slot error before any", tt.prefix, s.Key(), err, sent.Load())
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("server saw %d requests without a limiter", hits.Load())
	}
}

// countHook is a go-redis hook counting the commands sent.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestWeightKey: the weight key shares the session key's hash tag, so
// that the Redis limiter (empty prefix) stores both in one slot, and
// leaves the session key as it is.
func TestWeightKey(t *testing.T) {
	for key, want := range map[string]string{
		"host:mainnet.zklighter.elliot.ai": "{host:mainnet.zklighter.elliot.ai}:weight",
		"{account:42}":                     "{account:42}:weight",
		"fleet:{a}:x":                      "fleet:{a}:x:weight",
		"a}b":                              "{a}b}:weight",
	} {
		if got := lighter.WeightKey(key); got != want {
			t.Errorf("WeightKey(%q) = %q, want %q", key, got, want)
		}
		if a, b := redis.Key("", key), redis.Key("", lighter.WeightKey(key)); !strings.HasPrefix(b, a) {
			t.Errorf("%q is stored as %q, its weight key as %q: not one hash tag", key, a, b)
		}
	}
}

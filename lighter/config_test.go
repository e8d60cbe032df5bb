package lighter_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	cfg, err := lighter.Config{}.WithEnv(env(map[string]string{
		"LIGHTER_API_URL":             "testnet",
		"LIGHTER_RATE_LIMIT_URL":      "memory://",
		"LIGHTER_REQUESTS_PER_SECOND": "0.5",
		"LIGHTER_RATE_LIMIT_BURST":    "3",
		"LIGHTER_RATE_LIMIT_KEY":      "fleet-a",
		"LIGHTER_RETRIES":             "0",
		"LIGHTER_BACKOFF_FACTOR":      "0.25",
		"LIGHTER_POOL_MAXSIZE":        "8",
		"LIGHTER_TIMEOUT":             "2.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.APIURL, cfg.RateLimitURL, cfg.RequestsPerSecond, cfg.Burst, cfg.RateLimitKey, cfg.Retries, cfg.BackoffFactor, cfg.PoolMaxSize, cfg.Timeout}
	want := []any{"testnet", "memory://", 0.5, 3, "fleet-a", lighter.NoRetries, 0.25, 8, 2500 * time.Millisecond}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("WithEnv:\n got %v\nwant %v", got, want)
	}
	s, err := lighter.NewSession(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.URL().String(); got != lighter.Testnet {
		t.Errorf("URL = %s, want %s", got, lighter.Testnet)
	}
	if got, want := s.Limit(), (limiter.Limit{Rate: 1, Period: 2 * time.Second, Burst: 3}); got != want {
		t.Errorf("Limit = %v, want %v", got, want)
	}
	if s.Key() != "fleet-a" {
		t.Errorf("Key = %q", s.Key())
	}
	// Unset variables keep what the Config had.
	cfg, err = lighter.Config{Timeout: time.Second}.WithEnv(env(nil))
	if err != nil || cfg.Timeout != time.Second {
		t.Fatalf("empty environment changed the config: %+v, %v", cfg, err)
	}
}

func TestConfigFromEnvInvalid(t *testing.T) {
	for name, value := range map[string]string{
		"LIGHTER_REQUESTS_PER_SECOND": "fast",
		"LIGHTER_RATE_LIMIT_BURST":    "-1",
		"LIGHTER_RETRIES":             "many",
		"LIGHTER_BACKOFF_FACTOR":      "NaN",
		"LIGHTER_POOL_MAXSIZE":        "0",
		"LIGHTER_TIMEOUT":             "-3s",
	} {
		_, err := lighter.Config{}.WithEnv(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), value) {
			t.Errorf("%s=%s: err = %v, want one naming the variable and the value", name, value, err)
		}
	}
}

// A timeout in seconds beyond time.Duration's range (or not finite) is an
// error saying so, on every platform: Go's float-to-int conversion of such
// a value is implementation-specific (negative on amd64, saturated to 292
// years on arm64), so it must never be converted.
func TestConfigFromEnvTimeoutOutOfRange(t *testing.T) {
	for _, value := range []string{"1e300", "9223372037", "Inf", "NaN"} {
		_, err := lighter.Config{}.WithEnv(env(map[string]string{"LIGHTER_TIMEOUT": value}))
		if err == nil || !strings.Contains(err.Error(), "LIGHTER_TIMEOUT") || !strings.Contains(err.Error(), value) ||
			!strings.Contains(err.Error(), "at most") {
			t.Errorf("LIGHTER_TIMEOUT=%s: err = %v, want one naming the value and the largest timeout", value, err)
		}
	}
	cfg, err := lighter.Config{}.WithEnv(env(map[string]string{"LIGHTER_TIMEOUT": "9223372036"}))
	if err != nil || cfg.Timeout != 9223372036*time.Second {
		t.Fatalf("LIGHTER_TIMEOUT=9223372036: %v, %v; want 9223372036 s", cfg.Timeout, err)
	}
}

// Errors found by NewSession in settings from the environment name the
// variable too.
func TestEnvErrorsNameTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"LIGHTER_API_URL":        "ftp://x",
		"LIGHTER_RATE_LIMIT_URL": "bogus://x",
		"LIGHTER_ACCOUNT_TIER":   "gold",
	} {
		cfg, err := lighter.Config{RateLimitURL: "memory://"}.WithEnv(env(map[string]string{name: value}))
		if err != nil {
			t.Fatal(err)
		}
		s, err := lighter.NewSession(context.Background(), cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), value) {
			t.Errorf("%s=%s: err = %v, want one naming the variable and the value", name, value, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	s, err := lighter.NewSession(context.Background(), lighter.Config{RateLimitURL: "memory://"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.URL().String(); got != lighter.Mainnet {
		t.Errorf("default URL %s, want %s", got, lighter.Mainnet)
	}
	if got, want := s.Limit(), limiter.PerSecond(2); got != want {
		t.Errorf("default limit %v, want %v (never more than 2 in any second)", got, want)
	}
	if got := s.Key(); got != "host:mainnet.zklighter.elliot.ai" {
		t.Errorf("default key %q, want one per API host", got)
	}
}

func TestNewSessionInvalid(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		cfg     lighter.Config
		wantSub string
	}{
		{lighter.Config{APIURL: "ftp://x", RateLimitURL: "memory://"}, `invalid API URL "ftp://x"`},
		{lighter.Config{APIURL: "http://:pw@", RateLimitURL: "memory://"}, "invalid API URL"},
		{lighter.Config{RateLimitURL: "nosuch://"}, `unknown scheme "nosuch"`},
		{lighter.Config{RateLimitURL: "memory://", RequestsPerSecond: -1}, "RequestsPerSecond -1"},
		{lighter.Config{RateLimitURL: "memory://", Burst: -2}, "Burst -2"},
		{lighter.Config{RateLimitURL: "memory://", AccountTier: "gold"}, `unknown account tier "gold"`},
		{lighter.Config{RateLimitURL: "memory://", AccountTier: "premium", RequestsPerSecond: 5}, `account tier "premium" sets the limit`},
		{lighter.Config{RateLimitURL: "memory://", Retries: -5}, "Retries -5"},
		{lighter.Config{RateLimitURL: "memory://", PoolMaxSize: -1}, "PoolMaxSize -1"},
	}
	for _, tt := range tests {
		s, err := lighter.NewSession(ctx, tt.cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantSub) {
			t.Errorf("NewSession(%+v): err = %v, want one containing %q", tt.cfg, err, tt.wantSub)
		}
		if err != nil && strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

func TestTiersFitTheServerAllowance(t *testing.T) {
	for _, tier := range lighter.Tiers() {
		if err := tier.Limit.Validate(); err != nil {
			t.Errorf("%s: %v", tier.Name, err)
		}
		if got := tier.WorstWindow(); got > tier.Allowance {
			t.Errorf("%s: up to %d per %s, more than Lighter's %d", tier.Name, got, tier.Window, tier.Allowance)
		}
		if got := tier.WeightWorstWindow(); got > tier.WeightAllowance {
			t.Errorf("%s: up to %d weight per %s, more than Lighter's %d", tier.Name, got, tier.Window, tier.WeightAllowance)
		}
	}
	// The standard tier's shared weight budget is the premium limit.
	standard, err := lighter.TierByName("standard")
	if err != nil || standard.Weight.Validate() != nil || standard.WeightWorstWindow() != 24_000 || standard.WorstWindow() != 60 {
		t.Fatalf("standard: %+v, %v", standard, err)
	}
	premium, err := lighter.TierByName("Premium")
	if err != nil || premium.WorstWindow() != 24_000 || premium.Limit.Burst != 3_000 {
		t.Fatalf("premium: %+v, %v", premium, err)
	}
	// Every endpoint but tokens/create fits in one burst.
	for path, fits := range map[string]bool{
		"/api/v1/changeAccountTier": true, "/api/v1/tokens": true, "/api/v1/trades": true,
		"/api/v1/account": true, "/api/v1/tokens/create": false,
	} {
		if got := lighter.EndpointWeight(path) <= premium.Limit.Burst; got != fits {
			t.Errorf("%s (weight %d) fits the premium burst: %v, want %v", path, lighter.EndpointWeight(path), got, fits)
		}
	}
}

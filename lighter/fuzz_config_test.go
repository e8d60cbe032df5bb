package lighter_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/internal/redact"
	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/limiter/memory"
)

// envVars are the variables ConfigFromEnv reads, in FuzzConfigFromEnv's
// argument order.
var envVars = []string{lighter.EnvDeployment, lighter.EnvAPIURL, lighter.EnvRateLimitURL, lighter.EnvRequestsPerSecond,
	lighter.EnvBurst, lighter.EnvRateLimitKey, lighter.EnvAccountTier, lighter.EnvRetries, lighter.EnvBackoffFactor,
	lighter.EnvPoolMaxSize, lighter.EnvTimeout}

// FuzzConfigFromEnv gives WithEnv any value for each LIGHTER_* variable
// (an empty argument leaves it unset), then builds a Session from the
// Config (with a memory limiter: the limiter URL is FuzzOpen's). Nothing
// panics; every error is ErrInvalidConfig; WithEnv's error names every
// variable that is refused on its own, and quotes the value of only
// variables that were set (it may advise setting another);
// NewSession's error names a variable that was set; neither shows a
// password or credential option (8 bytes or more) of the API or limiter
// URL.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("", "", "", "", "", "", "", "", "", "", "")
	f.Add("testnet", "", "memory://", "5", "3", "k", "", "0", "0.25", "4", "2.5")
	f.Add("", "https://u:TopSecretPw@api.example/?api_key=TopSecretKey", "redis://:TopSecretPw@127.0.0.1:1/0", "x", "-1", "", "", "-3", "0", "0", "-1s")
	f.Add("robinhood", "ftp://u:TopSecretPw@h/", "", "1e10", "9999999999999999999", "", "premium", "1.5", "NaN", "1e3", "1e300")
	f.Add("nowhere", "mainnet", "", " 2 ", " ", "", "standard", "", "Inf", "", "9223372037")
	f.Add("", "https://api.rh.lighter.xyz", "", "0.0000001", "1", "", "", "99999999999999999999", "1e7", "32", "0x10")
	f.Add("mainnet", "http://%zz:TopSecretPw@h/", "", "", "", "", "gold", "", "", "", "30")
	f.Add("", "ftp://u:TopSecretPw@h/?token=TopSecretTok", "", "", "", "", "", "", "", "", "")
	f.Add("", "https://u:TopSecretPw@h:99999/", "", "", "", "", "standard", "", "", "", "")
	f.Add("", "https://[::1", "", "", "", "", "standard", "", "", "", "1h")
	f.Fuzz(func(t *testing.T, dep, apiURL, rlURL, rps, burst, key, tier, retries, backoff, pool, timeout string) {
		values := []string{dep, apiURL, rlURL, rps, burst, key, tier, retries, backoff, pool, timeout}
		env := map[string]string{}
		for i, v := range values {
			if v != "" {
				env[envVars[i]] = v
			}
		}
		lookup := func(m map[string]string) func(string) (string, bool) {
			return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
		}
		var secrets []string
		for _, raw := range []string{apiURL, rlURL} {
			secrets = append(secrets, urlSecrets(raw)...)
		}
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, lighter.ErrInvalidConfig) {
				t.Fatalf("%s: %v is not ErrInvalidConfig (env %q)", what, err, env)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("%s: the secret %q shows in %q", what, s, err)
				}
			}
			named := false
			for k := range env {
				named = named || strings.Contains(err.Error(), k)
			}
			for _, k := range envVars {
				if _, set := env[k]; !set && strings.Contains(err.Error(), k+`="`) {
					t.Fatalf("%s: %q names %s, which is not set (env %q)", what, err, k, env)
				}
			}
			if !named {
				t.Fatalf("%s: %q names no variable that was set (env %q)", what, err, env)
			}
		}
		cfg, err := lighter.Config{}.WithEnv(lookup(env))
		if err != nil {
			check("WithEnv", err)
			for k, v := range env {
				if _, alone := (lighter.Config{}).WithEnv(lookup(map[string]string{k: v})); alone != nil && !strings.Contains(err.Error(), k) {
					t.Fatalf("WithEnv: %q does not name %s=%q, refused on its own (%v)", err, k, v, alone)
				}
			}
			return
		}
		cfg.Limiter = memory.New()
		defer cfg.Limiter.Close()
		s, err := lighter.NewSession(context.Background(), cfg)
		if err != nil {
			check("NewSession", err)
			return
		}
		s.Close()
	})
}

// urlSecrets are the password and credential option values of 8 bytes or
// more that url.Parse finds in raw.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && len(p) >= 8 {
		out = append(out, p)
	}
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		for k, vs := range q {
			for _, v := range vs {
				if redact.IsSecretParam(k) && len(v) >= 8 {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

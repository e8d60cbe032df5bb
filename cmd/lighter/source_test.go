package main

import (
	"strings"
	"testing"
	"time"
)

// TestSettingErrorsNameTheirSource: a bad value names the flag when it
// came from a flag, the variable when it came from the environment (issue
// 13: --requests-per-second -3 was reported as LIGHTER_REQUESTS_PER_SECOND).
func TestSettingErrorsNameTheirSource(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		want, not string
	}{
		{"flag", nil, []string{"--requests-per-second", "-3", "pools"}, `--requests-per-second "-3"`, "LIGHTER_REQUESTS_PER_SECOND"},
		{"flag over a good variable", map[string]string{"LIGHTER_RATE_LIMIT_BURST": "2"}, []string{"--burst", "zero", "pools"}, `--burst "zero"`, "LIGHTER_RATE_LIMIT_BURST"},
		{"variable", map[string]string{"LIGHTER_REQUESTS_PER_SECOND": "-3"}, []string{"pools"}, `LIGHTER_REQUESTS_PER_SECOND="-3"`, "--requests-per-second"},
		{"both", map[string]string{"LIGHTER_RETRIES": "x"}, []string{"--timeout", "soon", "pools"}, `LIGHTER_RETRIES="x"`, "LIGHTER_TIMEOUT"},
		{"API URL flag", nil, []string{"--api-url", "ftp://x", "pools"}, "(from --api-url)", "LIGHTER_API_URL"},
		{"API URL variable", map[string]string{"LIGHTER_API_URL": "ftp://x"}, []string{"pools"}, "(from LIGHTER_API_URL)", "--api-url"},
		{"limiter URL flag", nil, []string{"--rate-limit-url", "nosuch://", "pools"}, "(from --rate-limit-url)", "LIGHTER_RATE_LIMIT_URL"},
		{"tier flag", nil, []string{"--account-tier", "gold", "pools"}, "(from --account-tier)", "LIGHTER_ACCOUNT_TIER"},
		// Found by the issue 13 review: these named Config fields
		// (RequestsPerSecond, Burst) and LIGHTER_RETRIES for flags.
		{"tier and rate flags", nil, []string{"--account-tier", "standard", "--requests-per-second", "3", "pools"},
			`account tier "standard" (from --account-tier) sets the limit itself: leave --requests-per-second 3 unset`, "RequestsPerSecond"},
		{"tier and burst variables", map[string]string{"LIGHTER_ACCOUNT_TIER": "premium", "LIGHTER_RATE_LIMIT_BURST": "5"}, []string{"pools"},
			`(from LIGHTER_ACCOUNT_TIER) sets the limit itself: leave LIGHTER_RATE_LIMIT_BURST=5 unset`, "Burst ("},
		{"tier variable, rate flag", map[string]string{"LIGHTER_ACCOUNT_TIER": "premium"}, []string{"--requests-per-second", "3", "pools"},
			`(from LIGHTER_ACCOUNT_TIER) sets the limit itself: leave --requests-per-second 3 unset`, "LIGHTER_REQUESTS_PER_SECOND"},
		{"backoff flag", nil, []string{"--retries", "0", "--backoff-factor", "0", "pools"}, `--backoff-factor "0"`, "LIGHTER_"},
		{"backoff variable", map[string]string{"LIGHTER_BACKOFF_FACTOR": "0"}, []string{"pools"}, "set LIGHTER_RETRIES=0", "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"LIGHTER_RATE_LIMIT_URL": "memory://"}
			for k, v := range tt.env {
				env[k] = v
			}
			code, _, errs := runCmd(t, env, tt.args...)
			if code != exitConfig || !strings.Contains(errs, tt.want) || strings.Contains(errs, tt.not) {
				t.Errorf("exit %d, stderr %q: want exit %d naming %q, not %q", code, errs, exitConfig, tt.want, tt.not)
			}
		})
	}
	// Both sources in one run: each error names its own.
	_, _, errs := runCmd(t, map[string]string{"LIGHTER_RETRIES": "x"}, "--timeout", "soon", "pools")
	if !strings.Contains(errs, `--timeout "soon"`) {
		t.Errorf("stderr %q: want the flag --timeout named too", errs)
	}
}

// TestOneShotStoreWaitBounded: a one-shot command against a store that
// cannot be reached gives up within a few seconds with exit 4 (issue 13:
// `limiter status` took 31.8 s, the wait policy's 30 s).
func TestOneShotStoreWaitBounded(t *testing.T) {
	for _, args := range [][]string{{"limiter", "status"}, {"get", "/api/v1/x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel() // each waits out its bound: side by side
			start := time.Now()
			code, _, errs := runCmd(t, map[string]string{"LIGHTER_RATE_LIMIT_URL": "redis://127.0.0.1:1/0",
				"LIGHTER_API_URL": "http://127.0.0.1:1"}, args...)
			took := time.Since(start)
			if code != exitUnreachable || !strings.Contains(errs, "store unavailable") {
				t.Errorf("%v: exit %d, stderr %q; want %d and store unavailable", args, code, errs, exitUnreachable)
			}
			if took > 15*time.Second {
				t.Errorf("%v: gave up after %s, want a few seconds (the bound is %s)", args, took, storeWait)
			}
		})
	}
}

func TestBoundStoreWait(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "sqlite://?busy_timeout=3s",
		"sqlite://":                          "sqlite://?busy_timeout=3s",
		"sqlite:///x/rl.sqlite?":             "sqlite:///x/rl.sqlite?busy_timeout=3s",
		"sqlite:///x?busy_timeout=9s":        "sqlite:///x?busy_timeout=9s",
		"redis://:pw@h:6379/0":               "redis://:pw@h:6379/0?unavailable_after=3s",
		"rediss+cluster://h:1?prefix=a":      "rediss+cluster://h:1?prefix=a&unavailable_after=3s",
		"redis://h/0?unavailable_after=0":    "redis://h/0?unavailable_after=0",
		"redis://h/0?unavailable_after=1m&x": "redis://h/0?unavailable_after=1m&x",
		"redis://:p#w@h/0":                   "redis://:p#w@h/0", // left for Open to report
		"redis://h/0?x=%zz":                  "redis://h/0?x=%zz",
		"memory://":                          "memory://",
		"::":                                 "::",
	} {
		if got := boundStoreWait(in); got != want {
			t.Errorf("boundStoreWait(%q) = %q, want %q", in, got, want)
		}
	}
}

// The bound a one-shot command adds to the limiter URL is its own: an
// error about the URL shows the URL as it was given, not with
// busy_timeout=3s or unavailable_after=3s appended.
func TestStoreWaitNotInErrors(t *testing.T) {
	for _, u := range []string{"sqlite://~/x.sqlite", "sqlite:rel.sqlite?", "redis://h:1/0?bogus=1"} {
		code, _, errs := runCmd(t, map[string]string{}, "--api-url", "http://127.0.0.1:1", "--rate-limit-url", u, "limiter", "status")
		if code != exitConfig || !strings.Contains(errs, `"`+u+`"`) || strings.Contains(errs, "=3s") {
			t.Errorf("--rate-limit-url %s: exit %d, %s; want %d quoting the URL as given, without the bound", u, code, errs, exitConfig)
		}
	}
}

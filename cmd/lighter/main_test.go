package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// TestMain lets the test binary play the demo's worker processes, which
// the demo starts from its own executable.
func TestMain(m *testing.M) {
	if os.Getenv(demoWorkerEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
	}
	os.Exit(m.Run())
}

// runCmd runs the command in-process with only the given environment.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = run(context.Background(), args, &out, &errb, lookup)
	return code, out.String(), errb.String()
}

func fakeEnv(t *testing.T, opts lightertest.Options) (*lightertest.Server, map[string]string) {
	srv := lightertest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, map[string]string{
		"LIGHTER_API_URL":             srv.URL,
		"LIGHTER_RATE_LIMIT_URL":      "memory://",
		"LIGHTER_REQUESTS_PER_SECOND": "1000",
	}
}

func TestPoolsAccountGet(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{Pools: 5})
	code, out, errs := runCmd(t, env, "pools")
	if code != exitOK {
		t.Fatalf("pools: exit %d: %s", code, errs)
	}
	var pools []map[string]any
	if err := json.Unmarshal([]byte(out), &pools); err != nil {
		t.Fatalf("pools output is not a JSON list: %v\n%s", err, out)
	}
	if len(pools) != 6 { // 5 listed + the LLP added
		t.Errorf("pools: %d entries, want 6 (5 pools and the LLP)", len(pools))
	}

	code, out, errs = runCmd(t, env, "account", "7")
	if code != exitOK || !strings.Contains(out, `"account_index": 7`) {
		t.Fatalf("account 7: exit %d, out %s, err %s", code, out, errs)
	}

	code, out, errs = runCmd(t, env, "get", "/api/v1/account", "by=index", "value=9")
	if code != exitOK || !strings.Contains(out, "9") {
		t.Fatalf("get: exit %d, out %s, err %s", code, out, errs)
	}
	if got := srv.Requests()[len(srv.Requests())-1].Query.Get("value"); got != "9" {
		t.Errorf("get sent value=%q, want 9", got)
	}
}

func TestLimiterStatus(t *testing.T) {
	_, env := fakeEnv(t, lightertest.Options{})
	env["LIGHTER_RATE_LIMIT_URL"] = "sqlite://" + filepath.Join(t.TempDir(), "rl.sqlite")
	env["LIGHTER_REQUESTS_PER_SECOND"] = "0.01" // one per 100 s
	if code, _, errs := runCmd(t, env, "get", "/api/v1/orderBooks"); code != exitOK {
		t.Fatalf("get: exit %d: %s", code, errs)
	}
	code, out, errs := runCmd(t, env, "limiter", "status")
	if code != exitOK {
		t.Fatalf("limiter status: exit %d: %s", code, errs)
	}
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status output: %v\n%s", err, out)
	}
	if st.Remaining != 0 || st.NextTokenIn < 90 || st.NextTokenIn > 100 || !strings.HasPrefix(st.Key, "host:127.0.0.1:") {
		t.Errorf("status after one request at 1 per 100 s: %+v", st)
	}
	// Another key is untouched.
	code, out, _ = runCmd(t, env, "limiter", "status", "other")
	if code != exitOK || !strings.Contains(out, `"remaining": 1`) {
		t.Errorf("status of an unused key: exit %d: %s", code, out)
	}
}

func TestLoadtestJSON(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	env["LIGHTER_RATE_LIMIT_URL"] = "sqlite://" + filepath.Join(t.TempDir(), "rl.sqlite") // the default backend
	env["LIGHTER_REQUESTS_PER_SECOND"] = "40"
	code, out, errs := runCmd(t, env, "loadtest", "--url", srv.URL+"/api/v1/orderBooks", "--workers", "4", "--duration", "1s", "--json")
	if code != exitOK {
		t.Fatalf("loadtest: exit %d: %s", code, errs)
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("loadtest --json output: %v\n%s", err, out)
	}
	// 40 per second with burst 1 for one second: at most 41 requests.
	if r.Requests < 30 || r.Requests > 41 || r.Status["200"] != r.Requests || r.Workers != 4 {
		t.Errorf("loadtest report: %+v", r)
	}
	if r.LatencyMS["p50"] <= 0 || r.LatencyMS["p99"] < r.LatencyMS["p50"] {
		t.Errorf("latency percentiles: %v", r.LatencyMS)
	}
	// Every request the server saw is in the report (one cut at the end
	// may not have reached it).
	if got := srv.Stats().Total; got > r.Requests || got < r.Status["200"] {
		t.Errorf("server saw %d requests, the report says %d sent, %d answered", got, r.Requests, r.Status["200"])
	}
	checkStoreFigures(t, out, r)
}

// checkStoreFigures checks the limiter's figures of a loadtest --json
// report on a store that counts them: present, every answered request
// decided by the store, round trips no more than decisions, and the rates
// those counts over the duration.
func checkStoreFigures(t *testing.T, out string, r report) {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"decisions", "decisions_per_second", "store_round_trips", "store_round_trips_per_second"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("loadtest --json report lacks %q:\n%s", k, out)
		}
	}
	if r.RoundTrips <= 0 || r.RoundTrips > r.Decisions || r.Decisions < int64(r.Status["200"]) {
		t.Errorf("%d decisions in %d round trips for %d answered requests: want 0 < round trips <= decisions, decisions >= answered",
			r.Decisions, r.RoundTrips, r.Status["200"])
	}
	t.Logf("%d requests answered: %d decisions in %d store round trips", r.Status["200"], r.Decisions, r.RoundTrips)
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*max(1, want) }
	if !near(r.DecisionRate, float64(r.Decisions)/r.Duration) || !near(r.RoundTripRate, float64(r.RoundTrips)/r.Duration) {
		t.Errorf("rates %v and %v per second, want %d and %d over %vs", r.DecisionRate, r.RoundTripRate, r.Decisions, r.RoundTrips, r.Duration)
	}
}

// The in-process limiter makes no round trips: the report has no store
// figures.
func TestLoadtestMemoryNoStoreFigures(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	code, out, errs := runCmd(t, env, "loadtest", "--url", srv.URL+"/x", "--workers", "2", "--duration", "200ms", "--json")
	if code != exitOK {
		t.Fatalf("loadtest: exit %d: %s", code, errs)
	}
	if strings.Contains(out, "decisions") || strings.Contains(out, "round_trips") {
		t.Errorf("the in-process limiter's report has store figures:\n%s", out)
	}
}

func TestLoadtestCost(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	env["LIGHTER_RATE_LIMIT_URL"] = "sqlite://" + filepath.Join(t.TempDir(), "rl.sqlite")
	env["LIGHTER_REQUESTS_PER_SECOND"] = "40"
	env["LIGHTER_RATE_LIMIT_BURST"] = "4"
	code, out, errs := runCmd(t, env, "loadtest", "--url", srv.URL+"/x", "--workers", "2", "--duration", "1s", "--cost", "4")
	if code != exitOK || !strings.Contains(out, "per second") {
		t.Fatalf("loadtest: exit %d: %s %s", code, out, errs)
	}
	if !regexp.MustCompile(`(?m)^limiter: +[1-9]\d* decisions \([\d.]+ per second\) in [1-9]\d* store round trips \([\d.]+ per second\)$`).MatchString(out) {
		t.Errorf("loadtest text report lacks the limiter's decisions and round trips:\n%s", out)
	}
	// 4 tokens a request at 40 tokens per second: about 10 requests + 1 burst.
	if got := srv.Stats().Total; got < 8 || got > 12 {
		t.Errorf("with cost 4 at 40 tokens/s the server saw %d requests in 1 s, want about 10", got)
	}
}

func TestExitCodes(t *testing.T) {
	_, env := fakeEnv(t, lightertest.Options{})
	unreachable := map[string]string{"LIGHTER_API_URL": "http://127.0.0.1:1", "LIGHTER_RATE_LIMIT_URL": "memory://", "LIGHTER_RETRIES": "0"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr string
	}{
		{"help", env, []string{"-help"}, exitOK, "Usage"},
		{"command help", env, []string{"loadtest", "-help"}, exitOK, "--url"},
		{"no command", env, nil, exitUsage, "missing command"},
		{"unknown command", env, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"bad flag", env, []string{"--nope", "pools"}, exitUsage, "flag provided but not defined"},
		{"bad account index", env, []string{"account", "x"}, exitUsage, `invalid account index "x"`},
		{"bad get param", env, []string{"get", "/p", "novalue"}, exitUsage, `"novalue" is not key=value`},
		{"bad loadtest url", env, []string{"loadtest", "--url", "ftp://x", "--duration", "1s"}, exitUsage, "invalid --url"},
		{"bad API URL", map[string]string{"LIGHTER_API_URL": "::nope", "LIGHTER_RATE_LIMIT_URL": "memory://"}, []string{"pools"}, exitConfig, "invalid API URL"},
		{"bad limiter URL", map[string]string{"LIGHTER_RATE_LIMIT_URL": "nosuch://"}, []string{"pools"}, exitConfig, `unknown scheme "nosuch"`},
		{"bad limiter password hidden", map[string]string{"LIGHTER_RATE_LIMIT_URL": "redis://:s3cret@127.0.0.1:1/0?bogus=1"}, []string{"pools"}, exitConfig, "bogus"},
		{"bad setting", map[string]string{"LIGHTER_REQUESTS_PER_SECOND": "-2"}, []string{"pools"}, exitConfig, "LIGHTER_REQUESTS_PER_SECOND"},
		{"bad flag value", env, []string{"--burst", "zero", "pools"}, exitConfig, `--burst "zero"`},
		{"unreachable limiter store", map[string]string{"LIGHTER_RATE_LIMIT_URL": "redis://:s3cret@127.0.0.1:1/0?unavailable_after=0&timeout=200ms"}, []string{"limiter", "status"}, exitUnreachable, "store unavailable"},
		{"unreachable API", unreachable, []string{"account", "1"}, exitUnreachable, "connect"},
		{"loadtest unreachable", unreachable, []string{"loadtest", "--url", "http://127.0.0.1:1/x", "--duration", "300ms"}, exitUnreachable, "no request"},
		{"loadtest cost above burst", env, []string{"loadtest", "--url", "http://127.0.0.1:1/x", "--duration", "1s", "--cost", "5"}, exitUsage, "more than the burst 1"},
		{"API error", env, []string{"account", "999999999999999999"}, exitFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tt.env, tt.args...)
			if code != tt.want || !strings.Contains(out+errs, tt.wantErr) {
				t.Errorf("exit %d, want %d; output %q %q, want it to contain %q", code, tt.want, out, errs, tt.wantErr)
			}
			if strings.Contains(out+errs, "s3cret") {
				t.Errorf("output shows a password: %s", errs)
			}
		})
	}
}

// Set above the server's limit, the demo sees 429s and says so with exit 1.
func TestDemoTooFast(t *testing.T) {
	code, out, errs := runCmd(t, nil, "demo", "--duration", "2s", "--requests-per-second", "6")
	if code != exitFailed || strings.Contains(out, "429s:     0 ") {
		t.Fatalf("demo at 6/s against a 2/s server: exit %d, want %d with 429s\n%s\n%s", code, exitFailed, out, errs)
	}
}

func TestDemo(t *testing.T) {
	start := time.Now()
	code, out, errs := runCmd(t, nil, "demo", "--duration", "3s")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"429s:     0 (expected 0)", "3 worker processes"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// 2 per second for 3 s with burst 1: 6 or 7 requests.
	if !strings.Contains(out, "requests: 6 ") && !strings.Contains(out, "requests: 7 ") {
		t.Errorf("demo sent a number of requests other than 6 or 7 in 3 s:\n%s", out)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("demo took %s", time.Since(start))
	}
}

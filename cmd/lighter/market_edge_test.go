package main

import (
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// A value given on the command line is sent or refused, never taken for
// "unset": --start_timestamp -1 is refused naming it, as -5 is, instead
// of silently becoming a day before the end.
func TestFundingsStartGivenIsKept(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	for _, v := range []string{"-1", "-5"} {
		code, _, errs := runCmd(t, env, "fundings", "--market_id", "0", "--resolution", "1h", "--start_timestamp", v, "--end_timestamp", "7200")
		if code != exitUsage || !strings.Contains(errs, "start_timestamp") || !strings.Contains(errs, v) {
			t.Errorf("--start_timestamp %s: exit %d, %s; want %d naming it", v, code, errs, exitUsage)
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent for refused timestamps", n)
	}
	// Left out, the start is a day before the end.
	code, _, errs := runCmd(t, env, "fundings", "--market_id", "0", "--resolution", "1h", "--end_timestamp", "100000")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if q := srv.Requests()[0].Query; q.Get("start_timestamp") != "13600" {
		t.Fatalf("query %v, want start_timestamp 13600 (end - 86400)", q)
	}
}

// Bad flag values and unknown flags exit 2 naming the flag; --help exits
// 0 with the command's usage; an unknown deployment is a configuration
// error (exit 3) naming it.
func TestMarketCommandsFlagErrors(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     []string
	}{
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "abc"}, exitUsage, []string{"-limit", `"abc"`}},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "5", "--ask_filter", "99999999999999999999"}, exitUsage, []string{"-ask_filter", "99999999999999999999"}},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "5", "--ask_filter", "-200"}, exitUsage, []string{"ask_filter", "-200"}},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "5", "--all", "--max_pages", "0"}, exitUsage, []string{"--max_pages", "0"}},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "5", "--max_pages", "3"}, exitUsage, []string{"--max_pages", "--all"}},
		{[]string{"trades", "--sortby", "trade_id"}, exitUsage, []string{"-sortby"}},
		{[]string{"recent-trades", "--market_id", "-1", "--limit", "5"}, exitUsage, []string{"market_id", "-1"}},
		{[]string{"recent-trades", "--market_id", "0", "--limit", "0"}, exitUsage, []string{"limit", "0"}},
		{[]string{"fundings", "--market_id", "0", "--resolution", "1h", "--count_back", "-1"}, exitUsage, []string{"count_back", "-1"}},
		{[]string{"order-book-details", "--market_id", "40000"}, exitUsage, []string{"market_id", "40000"}},
		{[]string{"accounts-by-l1-address"}, exitUsage, []string{"--l1_address is required"}},
		{[]string{"--deployment", "moon", "exchange-stats"}, exitConfig, []string{`"moon"`, "--deployment"}},
		{[]string{"trades", "--help"}, exitOK, []string{"Usage: lighter [global flags] trades", "-sort_by", "-max_pages"}},
		{[]string{"fundings", "-h"}, exitOK, []string{"Usage: lighter [global flags] fundings", "-start_timestamp"}},
	} {
		code, out, errs := runCmd(t, env, tc.args...)
		if code != tc.wantCode || out != "" {
			t.Errorf("%q: exit %d, out %q; want %d and nothing on stdout", tc.args, code, out, tc.wantCode)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%q: stderr %s\nwant it naming %q", tc.args, errs, w)
			}
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

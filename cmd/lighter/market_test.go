package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// Each market-data command sends its flags as the endpoint's parameters
// and prints the typed answer as JSON.
func TestMarketCommands(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{Trades: 12})
	for _, tc := range []struct {
		args      []string
		path      string
		wantQuery map[string]string
		wantOut   string
	}{
		{[]string{"fundings", "--market_id", "1", "--resolution", "1h", "--start_timestamp", "0", "--end_timestamp", "7200", "--count_back", "2"},
			lighter.PathFundings, map[string]string{"market_id": "1", "resolution": "1h", "start_timestamp": "0", "end_timestamp": "7200", "count_back": "2"}, `"fundings": [`},
		{[]string{"funding-rates"}, lighter.PathFundingRates, nil, `"exchange": "binance"`},
		{[]string{"recent-trades", "--market_id", "0", "--limit", "3"}, lighter.PathRecentTrades, map[string]string{"market_id": "0", "limit": "3"}, `"trade_id":`},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "2", "--market_id", "0", "--account_index", "5", "--role", "maker"},
			lighter.PathTrades, map[string]string{"sort_by": "trade_id", "limit": "2", "market_id": "0", "account_index": "5", "role": "maker"}, `"trades": [`},
		{[]string{"order-book-details", "--market_id", "0", "--filter", "perp"}, lighter.PathOrderBookDetails, map[string]string{"market_id": "0", "filter": "perp"}, `"market_config": {`},
		{[]string{"exchange-stats"}, lighter.PathExchangeStats, nil, `"daily_usd_volume":`},
		{[]string{"accounts-by-l1-address", "--l1_address", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}, lighter.PathAccountsByL1Address,
			map[string]string{"l1_address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}, `"sub_accounts": [`},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			srv.Reset()
			code, out, errs := runCmd(t, env, tc.args...)
			if code != exitOK || !strings.Contains(out, tc.wantOut) || !json.Valid([]byte(out)) {
				t.Fatalf("exit %d, out %s, err %s", code, out, errs)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Path != tc.path {
				t.Fatalf("requests %+v, want one to %s", reqs, tc.path)
			}
			q := reqs[0].Query
			if len(q) != len(tc.wantQuery) {
				t.Fatalf("query %v, want %v", q, tc.wantQuery)
			}
			for k, v := range tc.wantQuery {
				if q.Get(k) != v {
					t.Fatalf("query %v, want %v", q, tc.wantQuery)
				}
			}
		})
	}
}

// trades --all walks every page and prints every trade once.
func TestTradesAll(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{Trades: 12})
	code, out, errs := runCmd(t, env, "trades", "--sort_by", "trade_id", "--limit", "5", "--market_id", "2", "--all")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var trades []struct {
		TradeID  int64 `json:"trade_id"`
		MarketID int   `json:"market_id"`
	}
	if err := json.Unmarshal([]byte(out), &trades); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	seen := map[int64]bool{}
	for _, tr := range trades {
		if seen[tr.TradeID] || tr.MarketID != 2 {
			t.Fatalf("trade %+v repeated or of another market", tr)
		}
		seen[tr.TradeID] = true
	}
	if len(trades) != 12 || srv.Count(lighter.PathTrades) != 3 {
		t.Fatalf("%d trades in %d pages, want 12 in 3", len(trades), srv.Count(lighter.PathTrades))
	}
	code, _, errs = runCmd(t, env, "trades", "--sort_by", "trade_id", "--limit", "5", "--market_id", "2", "--all", "--max_pages", "2")
	if code != exitFailed || !strings.Contains(errs, "too many pages") {
		t.Fatalf("--max_pages 2: exit %d, %s", code, errs)
	}
}

// Bad flags are usage errors (exit 2) naming the parameter, and nothing
// is sent.
func TestMarketCommandsBadUsage(t *testing.T) {
	srv, env := fakeEnv(t, lightertest.Options{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fundings", "--resolution", "1h"}, "--market_id is required"},
		{[]string{"fundings", "--market_id", "0", "--resolution", "4h"}, `Resolution "4h" (resolution)`},
		{[]string{"recent-trades", "--market_id", "0", "--limit", "101"}, "limit 101"},
		{[]string{"recent-trades", "--market_id", "0"}, "--limit is required"},
		{[]string{"trades", "--limit", "5"}, "--sort_by is required"},
		{[]string{"trades", "--sort_by", "price", "--limit", "5"}, `sort_by "price"`},
		{[]string{"trades", "--sort_by", "trade_id", "--limit", "5", "--market_id", "x"}, "market_id"},
		{[]string{"order-book-details", "--filter", "options"}, `filter "options"`},
		{[]string{"accounts-by-l1-address", "--l1_address", "0x12"}, `l1_address "0x12"`},
		{[]string{"exchange-stats", "extra"}, "takes no arguments"},
	} {
		code, _, errs := runCmd(t, env, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %s; want %d naming %q", tc.args, code, errs, exitUsage, tc.want)
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent for bad usage", n)
	}
}

// pools lists the LLP once, as the insurance fund; --deployment robinhood
// pins its index (no systemConfig request).
func TestPoolsLLPOnce(t *testing.T) {
	for _, args := range [][]string{{"pools"}, {"--deployment", "robinhood", "pools"}} {
		srv, env := fakeEnv(t, lightertest.Options{Pools: 150})
		code, out, errs := runCmd(t, env, args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
		var pools []struct {
			AccountIndex int64 `json:"account_index"`
			AccountType  int   `json:"account_type"`
		}
		if err := json.Unmarshal([]byte(out), &pools); err != nil {
			t.Fatal(err)
		}
		seen, llps := map[int64]bool{}, 0
		for _, p := range pools {
			if seen[p.AccountIndex] {
				t.Fatalf("%q: pool %d listed twice", args, p.AccountIndex)
			}
			seen[p.AccountIndex] = true
			if p.AccountIndex == lightertest.DefaultLLPIndex {
				llps++
				if p.AccountType != 3 {
					t.Fatalf("%q: the LLP has type %d, want 3", args, p.AccountType)
				}
			}
		}
		if len(pools) != 151 || llps != 1 {
			t.Fatalf("%q: %d pools, %d LLPs; want 151 and 1", args, len(pools), llps)
		}
		wantSystem := 1
		if args[0] == "--deployment" {
			wantSystem = 0
		}
		if n := srv.Count(lighter.PathSystemConfig); n != wantSystem {
			t.Fatalf("%q: %d systemConfig requests, want %d", args, n, wantSystem)
		}
	}
}

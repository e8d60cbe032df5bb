package lightertest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

func TestSystemConfig(t *testing.T) {
	m := body(t, get(lightertest.NewHandler(lightertest.Options{}), lighter.PathSystemConfig))
	if m["code"] != float64(200) || m["liquidity_pool_index"] != float64(lightertest.DefaultLLPIndex) || m["liquidity_pool_cooldown_period"] != float64(300000) {
		t.Fatalf("systemConfig %v", m)
	}
	m = body(t, get(lightertest.NewHandler(lightertest.Options{NoLLP: true}), lighter.PathSystemConfig))
	if m["liquidity_pool_index"] != float64(0) {
		t.Fatalf("NoLLP: liquidity_pool_index %v", m["liquidity_pool_index"])
	}
}

// pageIndexes returns the account indexes of a publicPoolsMetadata answer.
func pageIndexes(t *testing.T, h *lightertest.Handler, index, limit int64) []int64 {
	t.Helper()
	rec := get(h, fmt.Sprintf("%s?filter=all&index=%d&limit=%d", lighter.PathPublicPoolsMetadata, index, limit))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var idx []int64
	for _, p := range body(t, rec)["public_pools"].([]any) {
		pm := p.(map[string]any)
		idx = append(idx, int64(pm["account_index"].(float64)))
		for _, k := range []string{"name", "l1_address", "operator_fee", "total_asset_value", "annual_percentage_yield", "sharpe_ratio", "total_shares", "status", "account_type", "master_account_index", "created_at"} {
			if _, ok := pm[k]; !ok {
				t.Fatalf("pool without %q: %v", k, pm)
			}
		}
	}
	return idx
}

func TestPublicPoolsMetadata(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{Pools: 5})
	listed := h.PoolIndexes()
	if want := []int64{lightertest.DefaultLLPIndex, 1012, 1009, 1006, 1003, 1000}; !equal(listed, want) {
		t.Fatalf("PoolIndexes %v, want %v (the LLP listed, as Lighter lists it)", listed, want)
	}
	all := listed[1:]
	for _, tc := range []struct {
		index, limit int64
		want         []int64
	}{
		{lightertest.DefaultLLPIndex + 1, 1, []int64{lightertest.DefaultLLPIndex}}, // Lighter's docs fetch the LLP so
		{lightertest.DefaultLLPIndex + 1, 100, listed},
		{lightertest.DefaultLLPIndex, 100, all}, // index is exclusive
		{lightertest.DefaultLLPIndex, 2, []int64{1012, 1009}},
		{1009, 2, []int64{1006, 1003}}, // index is exclusive
		{1008, 2, []int64{1006, 1003}},
		{1001, 100, []int64{1000}},
		{1000, 100, nil},
		{0, 100, nil},
	} {
		if got := pageIndexes(t, h, tc.index, tc.limit); !equal(got, tc.want) {
			t.Errorf("index=%d limit=%d: %v, want %v", tc.index, tc.limit, got, tc.want)
		}
	}
	hidden := lightertest.NewHandler(lightertest.Options{Pools: 2, HideLLP: true})
	if got, want := pageIndexes(t, hidden, lightertest.DefaultLLPIndex+1, 100), []int64{1003, 1000}; !equal(got, want) {
		t.Fatalf("HideLLP: %v, want %v", got, want)
	}
	explicit := lightertest.NewHandler(lightertest.Options{PoolIndexes: []int64{5, 70, 3}})
	if got, want := pageIndexes(t, explicit, 100, 100), []int64{70, 5, 3}; !equal(got, want) {
		t.Fatalf("PoolIndexes: %v, want %v", got, want)
	}
	none := lightertest.NewHandler(lightertest.Options{PoolIndexes: []int64{}})
	if got := pageIndexes(t, none, lightertest.DefaultLLPIndex, 100); len(got) != 0 {
		t.Fatalf("no pools: %v", got)
	}
}

func TestBadParams(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	for _, target := range []string{
		lighter.PathPublicPoolsMetadata + "?limit=10",
		lighter.PathPublicPoolsMetadata + "?index=5",
		lighter.PathPublicPoolsMetadata + "?index=-1&limit=10",
		lighter.PathPublicPoolsMetadata + "?index=5&limit=0",
		lighter.PathPublicPoolsMetadata + "?index=5&limit=101",
		lighter.PathPublicPoolsMetadata + "?index=5&limit=10&filter=nope",
		lighter.PathAccount + "?value=1",
		lighter.PathAccount + "?by=name&value=1",
		lighter.PathAccount + "?by=index&value=x",
		lighter.PathPnL + "?by=index&value=1&resolution=2d&start_timestamp=0&end_timestamp=1&count_back=0",
		lighter.PathPnL + "?by=index&value=1&resolution=1d&end_timestamp=1&count_back=0",
		lighter.PathPnL + "?by=index&value=1&resolution=1d&start_timestamp=0&end_timestamp=1&count_back=0&ignore_transfers=maybe",
		lighter.PathCandles + "?market_id=0&resolution=1d&start_timestamp=0&end_timestamp=1",
		lighter.PathCandles + "?market_id=0&resolution=1d&start_timestamp=0&end_timestamp=5000000000001&count_back=1",
		lighter.PathCandles + "?market_id=77&resolution=1d&start_timestamp=0&end_timestamp=1&count_back=1",
		lighter.PathOrderBooks + "?filter=options",
		lighter.PathFundings + "?resolution=1h&start_timestamp=0&end_timestamp=1&count_back=0",
		lighter.PathFundings + "?market_id=0&resolution=4h&start_timestamp=0&end_timestamp=1&count_back=0",
		lighter.PathFundings + "?market_id=0&resolution=1h&start_timestamp=-1&end_timestamp=1&count_back=0",
		lighter.PathFundings + "?market_id=2048&resolution=1h&start_timestamp=0&end_timestamp=1&count_back=0", // spot
		lighter.PathRecentTrades + "?market_id=0",
		lighter.PathRecentTrades + "?market_id=0&limit=0",
		lighter.PathRecentTrades + "?market_id=0&limit=101",
		lighter.PathRecentTrades + "?market_id=77&limit=1",
		lighter.PathTrades + "?limit=10",
		lighter.PathTrades + "?sort_by=price&limit=10",
		lighter.PathTrades + "?sort_by=trade_id",
		lighter.PathTrades + "?sort_by=trade_id&limit=101",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&sort_dir=asc",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&role=owner",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&type=swap",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&ask_filter=200",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&account_index=-2",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&cursor=bogus",
		lighter.PathTrades + "?sort_by=trade_id&limit=10&aggregate=maybe",
		lighter.PathOrderBookDetails + "?filter=options",
		lighter.PathOrderBookDetails + "?market_id=40000",
		lighter.PathAccountsByL1Address,
		lighter.PathAccountsByL1Address + "?l1_address=0x12",
	} {
		rec := get(h, target)
		if m := body(t, rec); rec.Code != http.StatusBadRequest || m["code"] != float64(lightertest.CodeInvalidParam) || !strings.HasPrefix(m["message"].(string), "invalid param: ") {
			t.Errorf("%s: %d %v, want 400 with code %d", target, rec.Code, m, lightertest.CodeInvalidParam)
		}
	}
}

func TestAccount(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{Now: newClock().Now})
	account := func(index int64) map[string]any {
		m := body(t, get(h, fmt.Sprintf("%s?by=index&value=%d", lighter.PathAccount, index)))
		accts := m["accounts"].([]any)
		if m["code"] != float64(200) || len(accts) != 1 {
			t.Fatalf("account %d: %v", index, m)
		}
		a := accts[0].(map[string]any)
		if a["account_index"] != float64(index) || a["index"] != float64(index) {
			t.Fatalf("account %d: indexes %v %v", index, a["account_index"], a["index"])
		}
		return a
	}
	pool := account(1003)
	info := pool["pool_info"].(map[string]any)
	prices := info["share_prices"].([]any)
	if len(prices) != 30 || len(info["daily_returns"].([]any)) != 30 || pool["account_type"] != float64(2) {
		t.Fatalf("pool account: %d share prices, type %v", len(prices), pool["account_type"])
	}
	last := prices[29].(map[string]any)
	if last["timestamp"] != float64(epoch.Unix()) {
		t.Fatalf("last share price at %v, want today %d", last["timestamp"], epoch.Unix())
	}
	// The same pool reads the same in the listing and the account.
	meta := body(t, get(h, lighter.PathPublicPoolsMetadata+"?index=1004&limit=1"))["public_pools"].([]any)[0].(map[string]any)
	if meta["name"] != pool["name"] || meta["total_asset_value"] != pool["total_asset_value"] || meta["total_shares"] != info["total_shares"] {
		t.Fatalf("listing %v and account %v disagree", meta, pool)
	}
	if llp := account(lightertest.DefaultLLPIndex); llp["name"] != "LLP" || llp["pool_info"] == nil {
		t.Fatalf("LLP account %v", llp)
	}
	plain := account(42)
	if info, ok := plain["pool_info"]; !ok || info != nil || len(plain["positions"].([]any)) != 1 {
		t.Fatalf("ordinary account %v", plain)
	}
	rec := get(h, fmt.Sprintf("%s?by=index&value=%d", lighter.PathAccount, lightertest.MaxAccountIndex+1))
	if m := body(t, rec); rec.Code != 400 || m["code"] != float64(lightertest.CodeAccountNotFound) {
		t.Fatalf("beyond MaxAccountIndex: %d %v", rec.Code, m)
	}
}

func TestPnL(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{Now: newClock().Now})
	now := epoch.Unix() // midnight UTC
	pnl := func(query string) []any {
		t.Helper()
		rec := get(h, lighter.PathPnL+"?by=index&value=1003&"+query)
		m := body(t, rec)
		if rec.Code != 200 || m["code"] != float64(200) {
			t.Fatalf("%s: %d %v", query, rec.Code, m)
		}
		return m["pnl"].([]any)
	}
	e := pnl(fmt.Sprintf("resolution=1d&start_timestamp=%d&end_timestamp=%d&count_back=0&ignore_transfers=true", now-10*86400, now+100*86400))
	if len(e) != 11 { // the end is cut at now
		t.Fatalf("%d entries, want 11", len(e))
	}
	first, last := e[0].(map[string]any), e[10].(map[string]any)
	if first["timestamp"] != float64(now-10*86400) || last["timestamp"] != float64(now) || last["pool_total_shares"].(float64) <= 0 {
		t.Fatalf("entries %v .. %v", first, last)
	}
	if e := pnl(fmt.Sprintf("resolution=1h&start_timestamp=%d&end_timestamp=%d&count_back=3", now-86400, now)); len(e) != 3 || e[2].(map[string]any)["timestamp"] != float64(now) {
		t.Fatalf("count_back 3: %v", e)
	}
	if e := pnl("resolution=1m&start_timestamp=0&end_timestamp=5000000000000&count_back=0"); len(e) != 5000 {
		t.Fatalf("unbounded range: %d entries, want the 5000 cap", len(e))
	}
}

func TestOrderBooks(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	symbols := func(query string) []string {
		var s []string
		for _, b := range body(t, get(h, lighter.PathOrderBooks+query))["order_books"].([]any) {
			s = append(s, b.(map[string]any)["symbol"].(string))
		}
		return s
	}
	for query, want := range map[string][]string{
		"":               {"ETH", "BTC", "SOL", "ETH/USDC"},
		"?filter=spot":   {"ETH/USDC"},
		"?market_id=1":   {"BTC"},
		"?market_id=255": {"ETH", "BTC", "SOL", "ETH/USDC"},
	} {
		if got := symbols(query); !equal(got, want) {
			t.Errorf("orderBooks%s: %v, want %v", query, got, want)
		}
	}
}

func TestCandles(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{Now: newClock().Now})
	now := epoch.UnixMilli()
	candles := func(query string) []map[string]any {
		t.Helper()
		rec := get(h, lighter.PathCandles+"?market_id=0&"+query)
		m := body(t, rec)
		if rec.Code != 200 || m["code"] != float64(200) {
			t.Fatalf("%s: %d %v", query, rec.Code, m)
		}
		var cs []map[string]any
		for _, c := range m["c"].([]any) {
			cs = append(cs, c.(map[string]any))
		}
		return cs
	}
	cs := candles(fmt.Sprintf("resolution=1h&start_timestamp=%d&end_timestamp=%d&count_back=0", now-5*3600_000, now))
	if len(cs) != 6 || cs[0]["t"] != float64(now-5*3600_000) || cs[5]["t"] != float64(now) {
		t.Fatalf("%d candles from %v", len(cs), cs[0]["t"])
	}
	for _, c := range cs {
		o, hi, lo, cl := c["o"].(float64), c["h"].(float64), c["l"].(float64), c["c"].(float64)
		if hi < max(o, cl) || lo > min(o, cl) || c["v"] == nil || c["V"] == nil || c["i"] == nil {
			t.Fatalf("candle %v is not a candle", c)
		}
	}
	if cs := candles(fmt.Sprintf("resolution=1m&start_timestamp=0&end_timestamp=%d&count_back=0", now)); len(cs) != 500 || cs[499]["t"] != float64(now) {
		t.Fatalf("unbounded: %d candles, want the newest 500", len(cs))
	}
	if cs := candles(fmt.Sprintf("resolution=1d&start_timestamp=0&end_timestamp=%d&count_back=2&set_timestamp_to_end=true", now)); len(cs) != 2 || cs[1]["t"] != float64(now+86400_000-1) {
		t.Fatalf("count_back 2, stamped at the end: %v", cs)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{})
	if rec := get(h, "/api/v1/nope"); rec.Code != 404 || body(t, rec)["code"] != float64(404) {
		t.Fatalf("unknown endpoint: %d %s", rec.Code, rec.Body)
	}
}

func TestNoLLPPoolZero(t *testing.T) {
	// Without an LLP, pool 0 is an ordinary pool, not the LLP.
	h := lightertest.NewHandler(lightertest.Options{PoolIndexes: []int64{0}, NoLLP: true})
	m := body(t, get(h, lighter.PathPublicPoolsMetadata+"?index=1&limit=1"))["public_pools"].([]any)[0].(map[string]any)
	if m["name"] == "LLP" || m["account_index"] != float64(0) {
		t.Fatalf("pool 0 without an LLP: %v", m)
	}
}

// trades pages by its cursor: every generated trade once, newest first.
func TestTradesCursor(t *testing.T) {
	h := lightertest.NewHandler(lightertest.Options{Trades: 30})
	var ids []float64
	cursor := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("paging does not end")
		}
		m := body(t, get(h, lighter.PathTrades+"?sort_by=trade_id&limit=7&market_id=1&cursor="+cursor))
		for _, tr := range m["trades"].([]any) {
			ids = append(ids, tr.(map[string]any)["trade_id"].(float64))
		}
		next, ok := m["next_cursor"].(string)
		if !ok {
			break
		}
		cursor = next
	}
	if len(ids) != 30 {
		t.Fatalf("%d trades of market 1, want 30", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("trade ids %v not strictly descending", ids)
		}
	}
}

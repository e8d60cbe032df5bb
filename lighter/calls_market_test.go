package lighter_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// wantQuery fails unless the last request's query is want.
func wantQuery(t *testing.T, srv *lightertest.Server, want url.Values) {
	t.Helper()
	if got := lastQuery(t, srv); got.Encode() != want.Encode() {
		t.Fatalf("query %s\nwant  %s", got.Encode(), want.Encode())
	}
}

// wantInvalid fails unless err names every part of want, and no request
// was sent.
func wantInvalid(t *testing.T, srv *lightertest.Server, what string, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, lighter.ErrInvalidParam) {
		t.Errorf("%s: error %v does not match ErrInvalidParam", what, err)
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %v, want one naming %q", what, err, w)
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%s: %d requests sent for an invalid query", what, n)
	}
}

func TestFundings(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	now := time.Now().Unix()
	ok := lighter.FundingsQuery{MarketID: 1, Resolution: "1h", StartTimestamp: now - 10*3600, EndTimestamp: now}
	for _, tc := range []struct {
		edit func(*lighter.FundingsQuery)
		want []string
	}{
		{func(q *lighter.FundingsQuery) { q.MarketID = -1 }, []string{"market_id", "-1"}},
		{func(q *lighter.FundingsQuery) { q.MarketID = 40000 }, []string{"market_id", "40000"}},
		{func(q *lighter.FundingsQuery) { q.Resolution = "" }, []string{"resolution"}},
		{func(q *lighter.FundingsQuery) { q.Resolution = "4h" }, []string{"resolution", `"4h"`}},
		{func(q *lighter.FundingsQuery) { q.StartTimestamp = -5 }, []string{"start_timestamp", "-5"}},
		{func(q *lighter.FundingsQuery) { q.EndTimestamp = lighter.MaxTimestamp + 1 }, []string{"end_timestamp", "5000000000001"}},
		{func(q *lighter.FundingsQuery) { q.EndTimestamp = q.StartTimestamp - 1 }, []string{"end_timestamp", "before"}},
		{func(q *lighter.FundingsQuery) { q.CountBack = -1 }, []string{"count_back", "-1"}},
	} {
		q := ok
		tc.edit(&q)
		_, err := s.Fundings(ctx, q)
		wantInvalid(t, srv, fmt.Sprintf("%+v", q), err, tc.want...)
	}
	f, err := s.Fundings(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{"market_id": {"1"}, "resolution": {"1h"}, "start_timestamp": {fmt.Sprint(ok.StartTimestamp)},
		"end_timestamp": {fmt.Sprint(now)}, "count_back": {"0"}})
	if f.Code != 200 || f.Resolution != "1h" || len(f.Fundings) < 10 || len(f.Fundings) > 11 {
		t.Fatalf("fundings %s, %d entries, want 1h and about 10", f.Resolution, len(f.Fundings))
	}
	last := f.Fundings[len(f.Fundings)-1]
	if _, err := last.Rate.Float64(); err != nil || last.Rate == "" || (last.Direction != "long" && last.Direction != "short") || last.Timestamp%3600 != 0 {
		t.Fatalf("funding %+v", last)
	}
	// The fake's validation error: 400 with Lighter's code.
	_, err = s.Fundings(ctx, lighter.FundingsQuery{MarketID: 77, Resolution: "1d"})
	var se *lighter.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(string(se.Body), `"code":20001`) || !strings.Contains(string(se.Body), "market_id 77") {
		t.Fatalf("unknown market: %v, want a 400 with code 20001 naming market_id 77", err)
	}
}

func TestFundingRatesAndExchangeStats(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	fr, err := s.FundingRates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.FundingRates) == 0 || lastQuery(t, srv).Encode() != "" {
		t.Fatalf("funding rates %+v", fr)
	}
	exchanges := map[string]bool{}
	for _, r := range fr.FundingRates {
		exchanges[r.Exchange] = true
		if r.Symbol == "" {
			t.Fatalf("rate %+v", r)
		}
	}
	if len(exchanges) != 4 {
		t.Fatalf("exchanges %v, want binance, bybit, hyperliquid and lighter", exchanges)
	}
	st, err := s.ExchangeStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range st.OrderBookStats {
		sum += m.DailyTradesCount
	}
	if st.Total != int64(len(st.OrderBookStats)) || st.Total == 0 || st.DailyTradesCount != sum || st.DailyUSDVolume <= 0 {
		t.Fatalf("exchange stats %+v", st)
	}
}

func TestOrderBookDetails(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	d, err := s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{})
	if len(d.OrderBookDetails) == 0 || len(d.SpotOrderBookDetails) == 0 {
		t.Fatalf("%d perps, %d spot markets", len(d.OrderBookDetails), len(d.SpotOrderBookDetails))
	}
	eth := d.OrderBookDetails[0]
	if eth.Symbol != "ETH" || eth.MarketType != "perp" || eth.MarketConfig == nil || eth.LastTradePrice <= 0 || len(eth.DailyChart) == 0 || eth.OrderQuoteLimit == "" {
		t.Fatalf("ETH %+v", eth)
	}
	d, err = s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{MarketID: lighter.Ptr(0), Filter: "perp"})
	if err != nil || len(d.OrderBookDetails) != 1 || len(d.SpotOrderBookDetails) != 0 {
		t.Fatalf("market 0, perp: %v, %+v", err, d)
	}
	wantQuery(t, srv, url.Values{"market_id": {"0"}, "filter": {"perp"}})
	srv.Reset()
	_, err = s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{Filter: "options"})
	wantInvalid(t, srv, "filter options", err, "filter", `"options"`)
	_, err = s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{MarketID: lighter.Ptr(-3)})
	wantInvalid(t, srv, "market -3", err, "market_id", "-3")
}

func TestRecentTrades(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		market, limit int
		want          []string
	}{
		{0, 0, []string{"limit", "0"}},
		{0, 101, []string{"limit", "101"}},
		{-1, 10, []string{"market_id", "-1"}},
	} {
		_, err := s.RecentTrades(ctx, tc.market, tc.limit)
		wantInvalid(t, srv, fmt.Sprintf("market %d limit %d", tc.market, tc.limit), err, tc.want...)
	}
	tr, err := s.RecentTrades(ctx, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{"market_id": {"1"}, "limit": {"5"}})
	if len(tr.Trades) != 5 {
		t.Fatalf("%d trades, want 5", len(tr.Trades))
	}
	for i, x := range tr.Trades {
		if x.MarketID != 1 || x.Price == "" || x.Size == "" || x.TxHash == "" || (i > 0 && x.TradeID >= tr.Trades[i-1].TradeID) {
			t.Fatalf("trade %d %+v", i, x)
		}
	}
}

func TestTradesQuery(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	ok := lighter.TradesQuery{SortBy: "trade_id", Limit: 10}
	for _, tc := range []struct {
		edit func(*lighter.TradesQuery)
		want []string
	}{
		{func(q *lighter.TradesQuery) { q.SortBy = "" }, []string{"sort_by is required"}},
		{func(q *lighter.TradesQuery) { q.SortBy = "price" }, []string{"sort_by", `"price"`}},
		{func(q *lighter.TradesQuery) { q.Limit = 0 }, []string{"limit", "0"}},
		{func(q *lighter.TradesQuery) { q.Limit = 101 }, []string{"limit", "101"}},
		{func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(32768) }, []string{"market_id", "32768"}},
		{func(q *lighter.TradesQuery) { q.AccountIndex = lighter.Ptr[int64](-2) }, []string{"account_index", "-2"}},
		{func(q *lighter.TradesQuery) { q.OrderIndex = lighter.Ptr[int64](-1) }, []string{"order_index", "-1"}},
		{func(q *lighter.TradesQuery) { q.SortDir = "asc" }, []string{"sort_dir", `"asc"`}},
		{func(q *lighter.TradesQuery) { q.From = lighter.Ptr[int64](-7) }, []string{"from", "-7"}},
		{func(q *lighter.TradesQuery) { q.AskFilter = lighter.Ptr(200) }, []string{"ask_filter", "200"}},
		{func(q *lighter.TradesQuery) { q.Role = "owner" }, []string{"role", `"owner"`}},
		{func(q *lighter.TradesQuery) { q.Type = "swap" }, []string{"type", `"swap"`}},
	} {
		q := ok
		tc.edit(&q)
		_, err := s.Trades(ctx, q)
		wantInvalid(t, srv, fmt.Sprintf("%+v", q), err, tc.want...)
	}
	if _, err := s.Trades(ctx, ok); err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{"sort_by": {"trade_id"}, "limit": {"10"}})
	full := lighter.TradesQuery{
		SortBy: "timestamp", Limit: 3, MarketID: lighter.Ptr(0), AccountIndex: lighter.Ptr[int64](1),
		OrderIndex: lighter.Ptr[int64](0), SortDir: "desc", From: lighter.Ptr[int64](-1), AskFilter: lighter.Ptr(-1),
		Role: "all", Type: "trade", Aggregate: true, Cursor: "",
	}
	if _, err := s.Trades(ctx, full); err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{"sort_by": {"timestamp"}, "limit": {"3"}, "market_id": {"0"}, "account_index": {"1"},
		"order_index": {"0"}, "sort_dir": {"desc"}, "from": {"-1"}, "ask_filter": {"-1"}, "role": {"all"}, "type": {"trade"}, "aggregate": {"true"}})
}

// AllTrades pages by the cursor to the end: every trade once, in order.
func TestAllTrades(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{Trades: 30})
	ctx := context.Background()
	q := lighter.TradesQuery{SortBy: "trade_id", Limit: 7, MarketID: lighter.Ptr(1)}
	var ids []int64
	for tr, err := range s.AllTrades(ctx, q, 0) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tr.TradeID)
	}
	if len(ids) != 30 {
		t.Fatalf("%d trades, want 30", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("trade ids not strictly descending (repeated or out of order): %v", ids)
		}
	}
	if n := srv.Count(lighter.PathTrades); n != 5 {
		t.Fatalf("%d pages, want 5 (7+7+7+7+2)", n)
	}
	reqs := srv.Requests()
	if reqs[0].Query.Has("cursor") || !reqs[1].Query.Has("cursor") {
		t.Fatalf("cursors: first %v, second %v", reqs[0].Query, reqs[1].Query)
	}
}

func TestAllTradesStops(t *testing.T) {
	ctx := context.Background()
	q := lighter.TradesQuery{SortBy: "trade_id", Limit: 1}
	collect := func(s *lighter.Session, ctx context.Context, maxPages int, stopAfter int) (n int, err error) {
		for _, e := range s.AllTrades(ctx, q, maxPages) {
			if e != nil {
				return n, e
			}
			if n++; n == stopAfter {
				break
			}
		}
		return n, nil
	}
	t.Run("bound", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{Trades: 30})
		n, err := collect(s, ctx, 3, 0)
		if !errors.Is(err, lighter.ErrTooManyPages) || n != 3 || srv.Count(lighter.PathTrades) != 3 || !strings.Contains(err.Error(), "3 pages") {
			t.Fatalf("%d trades, %d pages, error %v: want 3, 3 and ErrTooManyPages", n, srv.Count(lighter.PathTrades), err)
		}
	})
	t.Run("repeated cursor", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		srv.SetPathBody(lighter.PathTrades, `{"code":200,"next_cursor":"same","trades":[{"trade_id":5}]}`)
		n, err := collect(s, ctx, 0, 0)
		if err != nil || n != 2 || srv.Count(lighter.PathTrades) != 2 {
			t.Fatalf("%d trades, %d pages, %v: want to stop at the second page", n, srv.Count(lighter.PathTrades), err)
		}
	})
	t.Run("empty page", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		srv.SetPathBody(lighter.PathTrades, `{"code":200,"next_cursor":"more","trades":[]}`)
		n, err := collect(s, ctx, 0, 0)
		if err != nil || n != 0 || srv.Count(lighter.PathTrades) != 1 {
			t.Fatalf("%d trades, %d pages, %v: want to stop at the empty page", n, srv.Count(lighter.PathTrades), err)
		}
	})
	t.Run("break", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		n, err := collect(s, ctx, 0, 2)
		if err != nil || n != 2 || srv.Count(lighter.PathTrades) != 2 {
			t.Fatalf("%d trades, %d pages, %v: want 2 and 2", n, srv.Count(lighter.PathTrades), err)
		}
	})
	t.Run("context", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		n := 0
		for _, e := range s.AllTrades(cctx, q, 0) {
			if e != nil {
				err = e
				break
			}
			n++
			cancel()
		}
		if !errors.Is(err, context.Canceled) || n != 1 || srv.Count(lighter.PathTrades) != 1 {
			t.Fatalf("%d trades, %d pages, %v: want 1, 1 and context.Canceled", n, srv.Count(lighter.PathTrades), err)
		}
	})
	t.Run("invalid query", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		var got []error
		for _, e := range s.AllTrades(ctx, lighter.TradesQuery{SortBy: "price", Limit: 1}, 0) {
			got = append(got, e)
		}
		if len(got) != 1 {
			t.Fatalf("%d pairs yielded, want 1 error", len(got))
		}
		wantInvalid(t, srv, "sort_by price", got[0], "sort_by", `"price"`)
	})
}

func TestAccountsByL1Address(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx := context.Background()
	for _, addr := range []string{"", "0x12", "70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x70997970C51812dc3A010C7d01b50e0d17dc79CZ"} {
		_, err := s.AccountsByL1Address(ctx, addr)
		wantInvalid(t, srv, fmt.Sprintf("address %q", addr), err, "l1_address")
	}
	const addr = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
	sub, err := s.AccountsByL1Address(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	wantQuery(t, srv, url.Values{"l1_address": {addr}})
	master := lightertest.L1MasterIndex(addr)
	if sub.L1Address != addr || len(sub.SubAccounts) != 2 || sub.SubAccounts[0].Index != master || sub.SubAccounts[0].AccountType != lighter.AccountMaster ||
		sub.SubAccounts[1].AccountType != lighter.AccountSubAccount || sub.SubAccounts[1].Collateral == "" {
		t.Fatalf("sub-accounts %+v", sub)
	}
}

// PnL's defaults are the original's: end at now, ignore_transfers=false.
func TestPnLDefaults(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	before := time.Now().Unix()
	if _, err := s.PnL(context.Background(), lighter.PnLQuery{AccountIndex: 1, Resolution: "1h", StartTimestamp: before - 3600}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	q := lastQuery(t, srv)
	got, err := strconv.ParseInt(q.Get("end_timestamp"), 10, 64)
	if err != nil || got < before || got > after || q.Get("ignore_transfers") != "false" {
		t.Fatalf("end_timestamp %s (want now, %d to %d), ignore_transfers %q (want false)", q.Get("end_timestamp"), before, after, q.Get("ignore_transfers"))
	}
}

package lighter_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// lastQuery returns the query of the last request the server saw.
func lastQuery(t *testing.T, srv *lightertest.Server) url.Values {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request sent")
	}
	return reqs[len(reqs)-1].Query
}

func TestSystemConfig(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	cfg, err := s.SystemConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LiquidityPoolIndex != srv.LLPIndex() || cfg.LiquidityPoolCooldownPeriod != 300000 || cfg.StakingPoolIndex == 0 {
		t.Fatalf("system config %+v", cfg)
	}
}

func TestSystemConfigErrors(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	srv.SetPathCode(lighter.PathSystemConfig, 29500, "internal")
	_, err := s.SystemConfig(context.Background())
	var apiErr *lighter.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 29500 || apiErr.Message != "internal" {
		t.Fatalf("error %v, want an APIError 29500", err)
	}
	srv.SetPathCode(lighter.PathSystemConfig, 0, "")
	srv.SetPathStatus(lighter.PathSystemConfig, 503)
	_, err = s.SystemConfig(context.Background())
	var se *lighter.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("error %v, want a StatusError 503", err)
	}
}

func TestCallRetriedThroughSession(t *testing.T) {
	// With the Session's retries, one 503 is retried at once (the first
	// backoff is 0) and the call succeeds.
	s, srv := callsSession(t, lightertest.Options{}, func(c *lighter.Config) { c.Retries = 2 })
	srv.FailNext(1, 503)
	books, err := s.OrderBooks(context.Background())
	if err != nil || len(books) == 0 {
		t.Fatalf("OrderBooks: %v, %d books", err, len(books))
	}
	if n := srv.Count(lighter.PathOrderBooks); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestAccount(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{Pools: 3})
	ctx := context.Background()

	pool, err := s.Account(ctx, 1003)
	if err != nil {
		t.Fatal(err)
	}
	if q := lastQuery(t, srv); q.Get("by") != "index" || q.Get("value") != "1003" {
		t.Fatalf("query %v, want by=index&value=1003", q)
	}
	info := pool.PoolInfo
	if pool.AccountIndex != 1003 || pool.AccountType != lighter.AccountPublicPool || pool.Name == "" || info == nil ||
		len(info.SharePrices) != 30 || len(info.DailyReturns) != 30 || info.TotalShares <= 0 || info.OperatorShares <= 0 {
		t.Fatalf("pool account %+v, pool info %+v", pool, info)
	}
	if sp := info.SharePrices[29]; sp.Timestamp <= info.SharePrices[0].Timestamp || sp.SharePrice <= 0 {
		t.Fatalf("share prices %+v .. %+v", info.SharePrices[0], sp)
	}

	plain, err := s.Account(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if plain.PoolInfo != nil || len(plain.Positions) != 1 {
		t.Fatalf("ordinary account %+v", plain)
	}
	pos := plain.Positions[0]
	if pos.Symbol != "ETH" || pos.Sign != 1 || pos.UnrealizedPnL != "125.500000" || pos.PositionValue == "" {
		t.Fatalf("position %+v", pos)
	}
	if plain.Collateral != "10000.000000" || plain.TotalAssetValue != "10125.500000" || plain.AccountType != lighter.AccountMaster || plain.Index != 42 {
		t.Fatalf("balances %+v", plain)
	}
}

func TestAccountAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		body    string
		wantErr string // "" for success
		check   func(*lighter.Account) bool
	}{
		{"empty", `{"code":200,"total":0,"accounts":[]}`, "account not found", nil},
		{"no accounts key", `{"code":200}`, "account not found", nil},
		{"another index", `{"code":200,"accounts":[{"account_index":8}]}`, "returned 8", nil},
		{"index only", `{"code":200,"accounts":[{"index":7,"name":"x"}]}`, "", func(a *lighter.Account) bool { return a.AccountIndex == 7 && a.Name == "x" }},
		{"numbers for decimals", `{"code":200,"accounts":[{"account_index":7,"collateral":12.5,"total_asset_value":"13","pool_info":{"sharpe_ratio":null,"annual_percentage_yield":4.5}}]}`, "",
			func(a *lighter.Account) bool {
				return a.Collateral == "12.5" && a.TotalAssetValue == "13" && a.PoolInfo.SharpeRatio == nil && a.PoolInfo.AnnualPercentageYield == 4.5 && a.PoolInfo.Status == nil && !a.PoolInfo.Active()
			}},
		{"decimals stay exact", `{"code":200,"accounts":[{"account_index":7,"collateral":"123456789012345678.123456789012345678","positions":[{"position":"0.000000000000000001"}]}]}`, "",
			func(a *lighter.Account) bool {
				return a.Collateral == "123456789012345678.123456789012345678" && a.Positions[0].Position == "0.000000000000000001"
			}},
		{"unknown fields", `{"code":200,"accounts":[{"account_index":7,"brand_new":{"x":[1]},"positions":[{"market_id":1,"later":true}]}]}`, "",
			func(a *lighter.Account) bool { return len(a.Positions) == 1 && a.Positions[0].MarketID == 1 }},
		{"malformed", `{"code":200,"accounts":[{"account_index":"seven"}]}`, "decoding", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := callsSession(t, lightertest.Options{})
			srv.SetPathBody(lighter.PathAccount, tc.body)
			a, err := s.Account(ctx, 7)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.check != nil && !tc.check(a):
				t.Fatalf("account %+v", a)
			}
		})
	}
	t.Run("not found is ErrAccountNotFound", func(t *testing.T) {
		s, srv := callsSession(t, lightertest.Options{})
		srv.SetPathBody(lighter.PathAccount, `{"code":200,"accounts":[]}`)
		if _, err := s.Account(ctx, 7); !errors.Is(err, lighter.ErrAccountNotFound) || !strings.Contains(err.Error(), "7") {
			t.Fatalf("error %v, want ErrAccountNotFound naming 7", err)
		}
	})
	t.Run("beyond the largest index", func(t *testing.T) {
		s, _ := callsSession(t, lightertest.Options{})
		_, err := s.Account(ctx, lightertest.MaxAccountIndex+1)
		var se *lighter.StatusError
		if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(string(se.Body), "21100") {
			t.Fatalf("error %v, want a 400 with code 21100", err)
		}
	})
}

func TestAccountInvalid(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	if _, err := s.Account(context.Background(), -5); err == nil || !strings.Contains(err.Error(), "-5") {
		t.Fatalf("error %v, want one naming -5", err)
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent for an invalid index", n)
	}
}

func TestPnL(t *testing.T) {
	now := time.Now().Unix()
	s, srv := callsSession(t, lightertest.Options{Pools: 2})
	q := lighter.PnLQuery{
		AccountIndex:    1003,
		Resolution:      "1d",
		StartTimestamp:  now - 10*86400,
		EndTimestamp:    now + 86400,
		IgnoreTransfers: true,
	}
	pnl, err := s.PnL(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"by": {"index"}, "value": {"1003"}, "resolution": {"1d"},
		"start_timestamp":  {fmt.Sprint(q.StartTimestamp)},
		"end_timestamp":    {fmt.Sprint(q.EndTimestamp)},
		"count_back":       {"0"},
		"ignore_transfers": {"true"},
	}
	if got := lastQuery(t, srv); got.Encode() != want.Encode() {
		t.Fatalf("query %s\nwant %s", got.Encode(), want.Encode())
	}
	if pnl.Resolution != "1d" || len(pnl.Entries) < 9 || len(pnl.Entries) > 11 {
		t.Fatalf("pnl %s with %d entries, want 1d with about 10", pnl.Resolution, len(pnl.Entries))
	}
	last := pnl.Entries[len(pnl.Entries)-1]
	if last.PoolTotalShares <= 0 || last.Timestamp <= pnl.Entries[0].Timestamp || last.Inflow != 10000 {
		t.Fatalf("last entry %+v", last)
	}

	q.CountBack, q.IgnoreTransfers = 3, false
	if pnl, err = s.PnL(context.Background(), q); err != nil || len(pnl.Entries) != 3 {
		t.Fatalf("count_back 3: %v, %d entries", err, len(pnl.Entries))
	}
	if got := lastQuery(t, srv); got.Get("count_back") != "3" || got.Get("ignore_transfers") != "false" {
		t.Fatalf("query %v", got)
	}
}

func TestPnLInvalid(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ok := lighter.PnLQuery{AccountIndex: 1, Resolution: "1h", StartTimestamp: 100, EndTimestamp: 200}
	for _, tc := range []struct {
		edit    func(*lighter.PnLQuery)
		wantErr string
	}{
		{func(q *lighter.PnLQuery) { q.AccountIndex = -1 }, "AccountIndex -1"},
		{func(q *lighter.PnLQuery) { q.Resolution = "" }, "empty Resolution"},
		{func(q *lighter.PnLQuery) { q.Resolution = "30m" }, `Resolution "30m"`},
		{func(q *lighter.PnLQuery) { q.StartTimestamp = -1 }, "StartTimestamp -1"},
		{func(q *lighter.PnLQuery) { q.EndTimestamp = 99 }, "EndTimestamp 99 is before StartTimestamp 100"},
		{func(q *lighter.PnLQuery) { q.EndTimestamp = lighter.MaxTimestamp + 1 }, "EndTimestamp 5000000000001"},
		{func(q *lighter.PnLQuery) { q.CountBack = -2 }, "CountBack -2"},
	} {
		q := ok
		tc.edit(&q)
		if _, err := s.PnL(context.Background(), q); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: error %v, want one containing %q", q, err, tc.wantErr)
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent for invalid queries", n)
	}
	if _, err := s.PnL(context.Background(), ok); err != nil {
		t.Fatalf("valid query: %v", err)
	}
}

func TestOrderBooks(t *testing.T) {
	s, _ := callsSession(t, lightertest.Options{})
	books, err := s.OrderBooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 4 {
		t.Fatalf("%d books, want 4", len(books))
	}
	eth := books[0]
	if eth.Symbol != "ETH" || eth.MarketID != 0 || eth.MarketType != "perp" || eth.Status != "active" ||
		eth.MinBaseAmount != "0.0050" || eth.SupportedSizeDecimals != 4 || eth.SupportedPriceDecimals != 2 || eth.TakerFee == "" {
		t.Fatalf("ETH book %+v", eth)
	}
	if spot := books[3]; spot.MarketID != 2048 || spot.MarketType != "spot" {
		t.Fatalf("spot book %+v", spot)
	}
}

func TestCandles(t *testing.T) {
	now := time.Now().UnixMilli()
	s, srv := callsSession(t, lightertest.Options{})
	q := lighter.CandlesQuery{MarketID: 1, Resolution: "1h", StartTimestamp: now - 48*3600_000, EndTimestamp: now, CountBack: 24}
	c, err := s.Candles(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"market_id": {"1"}, "resolution": {"1h"}, "count_back": {"24"},
		"start_timestamp": {fmt.Sprint(q.StartTimestamp)}, "end_timestamp": {fmt.Sprint(q.EndTimestamp)},
	}
	if got := lastQuery(t, srv); got.Encode() != want.Encode() {
		t.Fatalf("query %s\nwant %s", got.Encode(), want.Encode())
	}
	if c.Resolution != "1h" || len(c.Candles) != 24 {
		t.Fatalf("%s with %d candles, want 1h with 24", c.Resolution, len(c.Candles))
	}
	for i, k := range c.Candles {
		if k.Open < 50000 || k.High < max(k.Open, k.Close) || k.Low > min(k.Open, k.Close) || k.BaseVolume <= 0 || k.QuoteVolume <= 0 || k.LastTradeID == 0 {
			t.Fatalf("candle %d: %+v", i, k)
		}
		if i > 0 && k.Timestamp-c.Candles[i-1].Timestamp != 3600_000 {
			t.Fatalf("candles %d and %d not an hour apart", i-1, i)
		}
	}
	q.SetTimestampToEnd = true
	if _, err := s.Candles(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if got := lastQuery(t, srv).Get("set_timestamp_to_end"); got != "true" {
		t.Fatalf("set_timestamp_to_end=%q", got)
	}
}

func TestCandleFieldCase(t *testing.T) {
	// encoding/json matches keys case-insensitively: "C" (close_raw) must
	// not land in Close, nor "V" (quote volume) in BaseVolume.
	s, srv := callsSession(t, lightertest.Options{})
	srv.SetPathBody(lighter.PathCandles, `{"code":200,"r":"1m","c":[{"t":1767700500000,"o":3236.86,"h":3237.78,"l":3235.36,"c":3235.39,"v":55.1632,"V":178530.793575,"i":779870452,"C":3024.66,"O":3024.5,"H":3034.66,"L":3014.66}]}`)
	c, err := s.Candles(context.Background(), lighter.CandlesQuery{Resolution: "1m", EndTimestamp: 1767700560000})
	if err != nil {
		t.Fatal(err)
	}
	want := lighter.Candle{
		Timestamp: 1767700500000, Open: 3236.86, High: 3237.78, Low: 3235.36, Close: 3235.39,
		BaseVolume: 55.1632, QuoteVolume: 178530.793575, LastTradeID: 779870452,
		OpenRaw: 3024.5, HighRaw: 3034.66, LowRaw: 3014.66, CloseRaw: 3024.66,
	}
	if len(c.Candles) != 1 || c.Candles[0] != want {
		t.Fatalf("candles %+v\nwant %+v", c.Candles, want)
	}
}

func TestCandlesInvalid(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ok := lighter.CandlesQuery{MarketID: 0, Resolution: "30m", StartTimestamp: 1000, EndTimestamp: 2000}
	for _, tc := range []struct {
		edit    func(*lighter.CandlesQuery)
		wantErr string
	}{
		{func(q *lighter.CandlesQuery) { q.MarketID = -1 }, "MarketID -1"},
		{func(q *lighter.CandlesQuery) { q.MarketID = 40000 }, "MarketID 40000"},
		{func(q *lighter.CandlesQuery) { q.Resolution = "" }, "empty Resolution"},
		{func(q *lighter.CandlesQuery) { q.Resolution = "2h" }, `Resolution "2h"`},
		{func(q *lighter.CandlesQuery) { q.EndTimestamp = 999 }, "EndTimestamp 999 is before StartTimestamp 1000"},
		{func(q *lighter.CandlesQuery) { q.StartTimestamp = lighter.MaxTimestamp + 5 }, "StartTimestamp 5000000000005"},
		{func(q *lighter.CandlesQuery) { q.CountBack = -1 }, "CountBack -1"},
	} {
		q := ok
		tc.edit(&q)
		if _, err := s.Candles(context.Background(), q); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: error %v, want one containing %q", q, err, tc.wantErr)
		}
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent for invalid queries", n)
	}
}

func TestCallsCanceled(t *testing.T) {
	s, srv := callsSession(t, lightertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.PublicPoolsMetadata(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n := srv.Stats().Total; n != 0 {
		t.Fatalf("%d requests sent with a canceled context", n)
	}
}

func TestCallsWithinServerLimit(t *testing.T) {
	// A Session limited to what the server allows (50 per rolling second,
	// Burst 1) never gets a 429, from any number of goroutines: the
	// server forgives its default 50 ms of arrival jitter, no more.
	s, srv := callsSession(t, lightertest.Options{Limit: 50, Window: time.Second}, func(c *lighter.Config) {
		c.RequestsPerSecond, c.Burst = 50, 1
	})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := s.Account(context.Background(), int64(w*10+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := srv.Stats(); st.TooMany != 0 || st.Total != 60 {
		t.Fatalf("stats %+v, want 60 requests and no 429", st)
	}
}

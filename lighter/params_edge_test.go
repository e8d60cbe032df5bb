package lighter_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// echoSession is a Session on a server that records each query and
// answers {"code":200} (with one pool for publicPoolsMetadata and one
// account for account).
func echoSession(t *testing.T) (*lighter.Session, func() []url.Values) {
	t.Helper()
	var mu sync.Mutex
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Query())
		mu.Unlock()
		switch r.URL.Path {
		case lighter.PathAccount:
			io.WriteString(w, `{"code":200,"accounts":[{"account_index":`+r.URL.Query().Get("value")+`}]}`)
		default:
			io.WriteString(w, `{"code":200}`)
		}
	}))
	t.Cleanup(srv.Close)
	s := newSession(t, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: 1000, Burst: 100, Retries: lighter.NoRetries})
	return s, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return append([]url.Values(nil), queries...)
	}
}

// The edge values the spec allows are sent as given; one past them, or a
// value of the wrong kind, is refused before sending, naming the
// parameter and the value.
func TestParamEdges(t *testing.T) {
	ctx := context.Background()
	trades := func(edit func(*lighter.TradesQuery)) func(*lighter.Session) error {
		return func(s *lighter.Session) error {
			q := lighter.TradesQuery{SortBy: "block_height", Limit: 1}
			edit(&q)
			_, err := s.Trades(ctx, q)
			return err
		}
	}
	fundings := func(edit func(*lighter.FundingsQuery)) func(*lighter.Session) error {
		return func(s *lighter.Session) error {
			q := lighter.FundingsQuery{Resolution: "1d"}
			edit(&q)
			_, err := s.Fundings(ctx, q)
			return err
		}
	}
	candles := func(edit func(*lighter.CandlesQuery)) func(*lighter.Session) error {
		return func(s *lighter.Session) error {
			q := lighter.CandlesQuery{Resolution: "1w"}
			edit(&q)
			_, err := s.Candles(ctx, q)
			return err
		}
	}
	pnl := func(edit func(*lighter.PnLQuery)) func(*lighter.Session) error {
		return func(s *lighter.Session) error {
			q := lighter.PnLQuery{Resolution: "1m", EndTimestamp: 10}
			edit(&q)
			_, err := s.PnL(ctx, q)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		call func(*lighter.Session) error
		sent map[string]string // parameters sent; nil: refused
		want []string          // what the refusal names
	}{
		// accepted edges
		{"trades limit 1", trades(func(q *lighter.TradesQuery) {}), map[string]string{"limit": "1", "sort_by": "block_height"}, nil},
		{"trades limit 100", trades(func(q *lighter.TradesQuery) { q.Limit = 100 }), map[string]string{"limit": "100"}, nil},
		{"trades market 0", trades(func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(0) }), map[string]string{"market_id": "0"}, nil},
		{"trades market 255 (all)", trades(func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(lighter.AllMarkets) }), map[string]string{"market_id": "255"}, nil},
		{"trades market max", trades(func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(lighter.MaxMarketID) }), map[string]string{"market_id": "32767"}, nil},
		{"trades account -1", trades(func(q *lighter.TradesQuery) { q.AccountIndex = lighter.Ptr[int64](-1) }), map[string]string{"account_index": "-1"}, nil},
		{"trades account max", trades(func(q *lighter.TradesQuery) { q.AccountIndex = lighter.Ptr[int64](math.MaxInt64) }), map[string]string{"account_index": "9223372036854775807"}, nil},
		{"trades ask_filter -128", trades(func(q *lighter.TradesQuery) { q.AskFilter = lighter.Ptr(-128) }), map[string]string{"ask_filter": "-128"}, nil},
		{"trades ask_filter 127", trades(func(q *lighter.TradesQuery) { q.AskFilter = lighter.Ptr(127) }), map[string]string{"ask_filter": "127"}, nil},
		{"trades type market-settlement", trades(func(q *lighter.TradesQuery) { q.Type = "market-settlement" }), map[string]string{"type": "market-settlement"}, nil},
		{"trades cursor kept as is", trades(func(q *lighter.TradesQuery) { q.Cursor = "a b&c=d" }), map[string]string{"cursor": "a b&c=d"}, nil},
		{"fundings at the largest timestamp", fundings(func(q *lighter.FundingsQuery) {
			q.MarketID, q.StartTimestamp, q.EndTimestamp = lighter.MaxMarketID, lighter.MaxTimestamp, lighter.MaxTimestamp
		}), map[string]string{"market_id": "32767", "start_timestamp": "5000000000000", "end_timestamp": "5000000000000", "count_back": "0"}, nil},
		{"candles all zero", candles(func(q *lighter.CandlesQuery) {}), map[string]string{"market_id": "0", "start_timestamp": "0", "end_timestamp": "0", "count_back": "0", "resolution": "1w"}, nil},
		{"pnl account 0", pnl(func(q *lighter.PnLQuery) {}), map[string]string{"value": "0", "end_timestamp": "10", "ignore_transfers": "false"}, nil},
		{"pool page index 0", func(s *lighter.Session) error { _, err := s.PublicPoolsMetadataPage(ctx, 0, 1); return err }, map[string]string{"index": "0", "limit": "1"}, nil},
		{"pool page index max", func(s *lighter.Session) error {
			_, err := s.PublicPoolsMetadataPage(ctx, math.MaxInt64, 100)
			return err
		}, map[string]string{"index": "9223372036854775807", "limit": "100"}, nil},
		{"account 0", func(s *lighter.Session) error { _, err := s.Account(ctx, 0); return err }, map[string]string{"value": "0"}, nil},
		{"l1 address upper case", func(s *lighter.Session) error {
			_, err := s.AccountsByL1Address(ctx, "0X70997970C51812DC3A010C7D01B50E0D17DC79C8")
			return err
		}, map[string]string{"l1_address": "0X70997970C51812DC3A010C7D01B50E0D17DC79C8"}, nil},

		// refused: one past the edges, negative, huge, wrong enum, empty
		{"trades limit -1", trades(func(q *lighter.TradesQuery) { q.Limit = -1 }), nil, []string{"limit", "-1"}},
		{"trades limit huge", trades(func(q *lighter.TradesQuery) { q.Limit = math.MaxInt }), nil, []string{"limit", "9223372036854775807"}},
		{"trades market huge", trades(func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(math.MaxInt) }), nil, []string{"market_id", "9223372036854775807"}},
		{"trades market min", trades(func(q *lighter.TradesQuery) { q.MarketID = lighter.Ptr(math.MinInt) }), nil, []string{"market_id", "-9223372036854775808"}},
		{"trades account min", trades(func(q *lighter.TradesQuery) { q.AccountIndex = lighter.Ptr[int64](math.MinInt64) }), nil, []string{"account_index", "-9223372036854775808"}},
		{"trades ask_filter -129", trades(func(q *lighter.TradesQuery) { q.AskFilter = lighter.Ptr(-129) }), nil, []string{"ask_filter", "-129"}},
		{"trades ask_filter 128", trades(func(q *lighter.TradesQuery) { q.AskFilter = lighter.Ptr(128) }), nil, []string{"ask_filter", "128"}},
		{"trades sort_by in another case", trades(func(q *lighter.TradesQuery) { q.SortBy = "Trade_ID" }), nil, []string{"sort_by", `"Trade_ID"`}},
		{"trades sort_by with a space", trades(func(q *lighter.TradesQuery) { q.SortBy = "trade_id " }), nil, []string{"sort_by", `"trade_id "`}},
		{"trades type with a space", trades(func(q *lighter.TradesQuery) { q.Type = " " }), nil, []string{"type", `" "`}},
		{"fundings resolution 1m", fundings(func(q *lighter.FundingsQuery) { q.Resolution = "1m" }), nil, []string{"resolution", `"1m"`}},
		{"fundings end past max", fundings(func(q *lighter.FundingsQuery) { q.EndTimestamp = math.MaxInt64 }), nil, []string{"end_timestamp", "9223372036854775807"}},
		{"fundings market min", fundings(func(q *lighter.FundingsQuery) { q.MarketID = math.MinInt }), nil, []string{"market_id", "-9223372036854775808"}},
		{"candles resolution 2h", candles(func(q *lighter.CandlesQuery) { q.Resolution = "2h" }), nil, []string{"resolution", `"2h"`}},
		{"candles market 32768", candles(func(q *lighter.CandlesQuery) { q.MarketID = 32768 }), nil, []string{"market_id", "32768"}},
		{"candles start past max", candles(func(q *lighter.CandlesQuery) {
			q.StartTimestamp, q.EndTimestamp = lighter.MaxTimestamp+1, lighter.MaxTimestamp
		}), nil, []string{"start_timestamp", "5000000000001"}},
		{"candles count_back min", candles(func(q *lighter.CandlesQuery) { q.CountBack = math.MinInt64 }), nil, []string{"count_back", "-9223372036854775808"}},
		{"pnl resolution 30m", pnl(func(q *lighter.PnLQuery) { q.Resolution = "30m" }), nil, []string{"resolution", `"30m"`}},
		{"pnl account min", pnl(func(q *lighter.PnLQuery) { q.AccountIndex = math.MinInt64 }), nil, []string{"value", "-9223372036854775808"}},
		{"pnl start after end", pnl(func(q *lighter.PnLQuery) { q.StartTimestamp = 11 }), nil, []string{"11", "10"}},
		{"pool page index min", func(s *lighter.Session) error {
			_, err := s.PublicPoolsMetadataPage(ctx, math.MinInt64, 1)
			return err
		}, nil, []string{"index", "-9223372036854775808"}},
		{"pool page limit huge", func(s *lighter.Session) error {
			_, err := s.PublicPoolsMetadataPage(ctx, 5, math.MaxInt)
			return err
		}, nil, []string{"limit", "9223372036854775807"}},
		{"account min", func(s *lighter.Session) error { _, err := s.Account(ctx, math.MinInt64); return err }, nil, []string{"value", "-9223372036854775808"}},
		{"l1 address short", func(s *lighter.Session) error {
			_, err := s.AccountsByL1Address(ctx, "0x7099")
			return err
		}, nil, []string{"l1_address", `"0x7099"`}},
		{"l1 address not hex", func(s *lighter.Session) error {
			_, err := s.AccountsByL1Address(ctx, "0x70997970C51812dc3A010C7d01b50e0d17dc79CG")
			return err
		}, nil, []string{"l1_address", "79CG"}},
		{"l1 address empty", func(s *lighter.Session) error { _, err := s.AccountsByL1Address(ctx, ""); return err }, nil, []string{"l1_address is required"}},
		{"order book details filter empty-ish", func(s *lighter.Session) error {
			_, err := s.OrderBookDetails(ctx, lighter.OrderBookDetailsQuery{Filter: "ALL"})
			return err
		}, nil, []string{"filter", `"ALL"`}},
		{"recent trades market max+1", func(s *lighter.Session) error { _, err := s.RecentTrades(ctx, lighter.MaxMarketID+1, 1); return err }, nil, []string{"market_id", "32768"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, queries := echoSession(t)
			err := tc.call(s)
			sent := queries()
			if tc.sent == nil {
				if !errors.Is(err, lighter.ErrInvalidParam) || len(sent) != 0 {
					t.Fatalf("error %v, %d requests sent: want a refusal before sending", err, len(sent))
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if err != nil || len(sent) != 1 {
				t.Fatalf("error %v, %d requests: want one sent", err, len(sent))
			}
			for k, v := range tc.sent {
				if got := sent[0].Get(k); got != v || !sent[0].Has(k) {
					t.Fatalf("sent %s=%q, want %q (query %s)", k, got, v, sent[0].Encode())
				}
			}
		})
	}
}

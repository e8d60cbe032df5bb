package lighter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// PublicPoolsMetadata pages through every public pool, each once: the
// first page, just above the LLP's index (Lighter's index is exclusive),
// starts with the LLP. Here against a fake Lighter with 250 pools and the
// LLP: three pages, no account request.
func ExampleSession_PublicPoolsMetadata() {
	s, srv, cleanup := fakeSession(lightertest.Options{Pools: 250}, 100)
	defer cleanup()
	ctx := context.Background()

	pools, err := s.PublicPoolsMetadata(ctx)
	if err != nil {
		panic(err)
	}
	first := pools[0]
	fmt.Println(len(pools), "pools; first:", first.Name, first.AccountIndex, first.IsLLP, first.AccountType)
	fmt.Println("pages:", srv.Count(lighter.PathPublicPoolsMetadata), "accounts:", srv.Count(lighter.PathAccount))
	// Output:
	// 251 pools; first: LLP 281474976710654 true insurance fund
	// pages: 3 accounts: 0
}

// AllTrades follows the trades cursor to the last page; here 12 trades of
// market 2, 5 per page: three pages.
func ExampleSession_AllTrades() {
	s, srv, cleanup := fakeSession(lightertest.Options{Trades: 12}, 100)
	defer cleanup()
	ctx := context.Background()

	n := 0
	for _, err := range s.AllTrades(ctx, lighter.TradesQuery{SortBy: "trade_id", Limit: 5, MarketID: lighter.Ptr(2)}, 100) {
		if err != nil {
			panic(err)
		}
		n++
	}
	fmt.Println(n, "trades in", srv.Count(lighter.PathTrades), "pages")
	// Output:
	// 12 trades in 3 pages
}

// Candles returns a market's candles; the query is checked before anything
// is sent.
func ExampleSession_Candles() {
	s, _, cleanup := fakeSession(lightertest.Options{}, 0)
	defer cleanup()
	ctx := context.Background()

	_, err := s.Candles(ctx, lighter.CandlesQuery{MarketID: 0, Resolution: "1h", StartTimestamp: 2000, EndTimestamp: 1000})
	fmt.Println(err)
	// Output:
	// lighter: candles: EndTimestamp 1000 is before StartTimestamp 2000 (end_timestamp, start_timestamp)
}

// A Session against a fake Lighter API, with an in-process limiter: in
// production leave RateLimitURL empty (SQLite at the original's path) or set
// LIGHTER_RATE_LIMIT_URL to a Redis URL for a fleet.
func ExampleNewSession() {
	srv := lightertest.NewServer(lightertest.Options{Limit: 2, Window: time.Second})
	defer srv.Close()
	ctx := context.Background()
	s, err := lighter.NewSession(ctx, lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://"})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println("limit:", s.Limit())
	for range 3 { // the third waits half a second for its slot
		if _, err := s.SystemConfig(ctx); err != nil {
			panic(err)
		}
	}
	fmt.Println("requests:", srv.Stats().Total, "429s:", srv.Stats().TooMany)
	// Output:
	// limit: 2/1s (burst 1)
	// requests: 3 429s: 0
}

// Configuration from LIGHTER_* variables: a fleet is switched from SQLite
// to Redis by setting LIGHTER_RATE_LIMIT_URL, without a rebuild.
func ExampleConfigFromEnv() {
	cfg, err := lighter.ConfigFromEnv()
	if err != nil {
		panic(err) // names the variable and the value
	}
	s, err := lighter.NewSession(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	defer s.Close()
}

// fakeSession is a Session of rps requests a second (0: the tier's) with
// an in-process limiter against a new fake Lighter of o, and the function
// that closes both.
func fakeSession(o lightertest.Options, rps float64) (*lighter.Session, *lightertest.Server, func()) {
	srv := lightertest.NewServer(o)
	s, err := lighter.NewSession(context.Background(), lighter.Config{APIURL: srv.URL, RateLimitURL: "memory://", RequestsPerSecond: rps})
	if err != nil {
		panic(err)
	}
	return s, srv, func() {
		s.Close()
		srv.Close()
	}
}

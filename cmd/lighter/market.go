package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// marketUsage lists the market-data commands for usage.
const marketUsage = `  fundings --market_id N --resolution 1h|1d [--start_timestamp S] [--end_timestamp E] [--count_back C]
                              a market's funding history
  funding-rates               current funding rates of every market
  recent-trades --market_id N --limit L
                              a market's latest trades
  trades --sort_by trade_id --limit L [--market_id N] [--account_index A] [--cursor C] [--all] ...
                              a page of trades (--all: every page, by the cursor)
  order-book-details [--market_id N] [--filter all|spot|perp]
                              markets with their day's statistics
  exchange-stats              the day's statistics of every market
  accounts-by-l1-address --l1_address 0x...
                              the accounts of an Ethereum address
`

// optInt is an integer flag that remembers whether it was set.
type optInt struct {
	v   int64
	set bool
}

func (o *optInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optInt) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a whole number")
	}
	o.v, o.set = n, true
	return nil
}

// int returns a pointer to the value, nil when the flag was not set.
func (o *optInt) int() *int {
	if !o.set {
		return nil
	}
	return lighter.Ptr(int(o.v))
}

// int64 returns a pointer to the value, nil when the flag was not set.
func (o *optInt) int64() *int64 {
	if !o.set {
		return nil
	}
	return lighter.Ptr(o.v)
}

// noArgs parses a command's flags and refuses arguments; code is -1 to go
// on.
func (c *cli) noArgs(fs *flag.FlagSet, name string, args []string) int {
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		return c.usageError(fs, "%s takes no arguments, got %q", name, fs.Args())
	}
	return -1
}

// required reports a required flag left unset; code is -1 to go on.
func (c *cli) required(fs *flag.FlagSet, names ...string) int {
	for _, n := range names {
		if !isSet(fs, n) {
			return c.usageError(fs, "--%s is required", n)
		}
	}
	return -1
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func (c *cli) fundings(ctx context.Context, args []string) int {
	fs := c.flags("fundings", "--market_id N --resolution 1h|1d", "Prints a market's funding history (GET /api/v1/fundings) as JSON. Timestamps in Unix seconds.")
	market := fs.Int("market_id", 0, "market index (required)")
	res := fs.String("resolution", "", "1h or 1d (required)")
	end := fs.Int64("end_timestamp", 0, "end of the history (default now)")
	var start optInt
	fs.Var(&start, "start_timestamp", "start of the history (default a day before the end)")
	countBack := fs.Int64("count_back", 0, "entries before the end to return, 0 for the whole range")
	if code := c.noArgs(fs, "fundings", args); code >= 0 {
		return code
	}
	if code := c.required(fs, "market_id", "resolution"); code >= 0 {
		return code
	}
	q := lighter.FundingsQuery{MarketID: *market, Resolution: *res, StartTimestamp: start.v, EndTimestamp: *end, CountBack: *countBack}
	if q.EndTimestamp == 0 {
		q.EndTimestamp = time.Now().Unix()
	}
	if !start.set {
		q.StartTimestamp = max(0, q.EndTimestamp-24*3600)
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.Fundings(ctx, q) })
}

func (c *cli) fundingRates(ctx context.Context, args []string) int {
	fs := c.flags("funding-rates", "", "Prints the current funding rate of every market, on Lighter and other exchanges (GET /api/v1/funding-rates), as JSON.")
	if code := c.noArgs(fs, "funding-rates", args); code >= 0 {
		return code
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.FundingRates(ctx) })
}

func (c *cli) recentTrades(ctx context.Context, args []string) int {
	fs := c.flags("recent-trades", "--market_id N --limit L", "Prints a market's latest trades, newest first (GET /api/v1/recentTrades), as JSON.")
	market := fs.Int("market_id", 0, "market index (required)")
	limit := fs.Int("limit", 0, "number of trades, 1 to 100 (required)")
	if code := c.noArgs(fs, "recent-trades", args); code >= 0 {
		return code
	}
	if code := c.required(fs, "market_id", "limit"); code >= 0 {
		return code
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.RecentTrades(ctx, *market, *limit) })
}

func (c *cli) trades(ctx context.Context, args []string) int {
	fs := c.flags("trades", "--sort_by FIELD --limit L [flags]", "Prints a page of trades (GET /api/v1/trades) as JSON, its next_cursor for --cursor; with --all, every trade of every page as one JSON list.")
	var q lighter.TradesQuery
	var market, account, order, from, askFilter optInt
	fs.StringVar(&q.SortBy, "sort_by", "", "block_height, timestamp or trade_id (required)")
	fs.IntVar(&q.Limit, "limit", 0, "page size, 1 to 100 (required)")
	fs.Var(&market, "market_id", "market index (default every market)")
	fs.Var(&account, "account_index", "account whose trades to list (default every account)")
	fs.Var(&order, "order_index", "order whose trades to list")
	fs.StringVar(&q.SortDir, "sort_dir", "", "desc (Lighter's only direction)")
	fs.StringVar(&q.Cursor, "cursor", "", "next_cursor of the previous page")
	fs.Var(&from, "from", "where the listing starts, in sort_by's terms (default the newest)")
	fs.Var(&askFilter, "ask_filter", "side filter, -1 for both (Lighter's default)")
	fs.StringVar(&q.Role, "role", "", "all, maker or taker")
	fs.StringVar(&q.Type, "type", "", "all, trade, liquidation, deleverage or market-settlement")
	fs.BoolVar(&q.Aggregate, "aggregate", false, "merge the fills of one order")
	all := fs.Bool("all", false, "walk every page by the cursor and print every trade")
	maxPages := fs.Int("max_pages", lighter.DefaultMaxPages, "with --all, the most pages read (an error when more are left)")
	if code := c.noArgs(fs, "trades", args); code >= 0 {
		return code
	}
	if code := c.required(fs, "sort_by", "limit"); code >= 0 {
		return code
	}
	if *maxPages < 1 {
		return c.usageError(fs, "invalid --max_pages %d: want 1 or more", *maxPages)
	}
	if !*all && isSet(fs, "max_pages") {
		return c.usageError(fs, "--max_pages %d needs --all (without it, one page is read)", *maxPages)
	}
	q.MarketID, q.AccountIndex, q.OrderIndex, q.From, q.AskFilter = market.int(), account.int64(), order.int64(), from.int64(), askFilter.int()
	if !*all {
		return c.call(ctx, func(s *lighter.Session) (any, error) { return s.Trades(ctx, q) })
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) {
		trades := []lighter.Trade{}
		for t, err := range s.AllTrades(ctx, q, *maxPages) {
			if err != nil {
				return nil, err
			}
			trades = append(trades, t)
		}
		return trades, nil
	})
}

func (c *cli) orderBookDetails(ctx context.Context, args []string) int {
	fs := c.flags("order-book-details", "[--market_id N] [--filter all|spot|perp]", "Prints markets with their day's statistics (GET /api/v1/orderBookDetails) as JSON.")
	var market optInt
	fs.Var(&market, "market_id", "market index (default every market)")
	filter := fs.String("filter", "", "all, spot or perp (default all)")
	if code := c.noArgs(fs, "order-book-details", args); code >= 0 {
		return code
	}
	q := lighter.OrderBookDetailsQuery{MarketID: market.int(), Filter: *filter}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.OrderBookDetails(ctx, q) })
}

func (c *cli) exchangeStats(ctx context.Context, args []string) int {
	fs := c.flags("exchange-stats", "", "Prints the last day's statistics of every market (GET /api/v1/exchangeStats) as JSON.")
	if code := c.noArgs(fs, "exchange-stats", args); code >= 0 {
		return code
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.ExchangeStats(ctx) })
}

func (c *cli) accountsByL1Address(ctx context.Context, args []string) int {
	fs := c.flags("accounts-by-l1-address", "--l1_address 0x...", "Prints the accounts of an Ethereum address (GET /api/v1/accountsByL1Address) as JSON.")
	addr := fs.String("l1_address", "", "the address, 0x and 40 hex digits (required)")
	if code := c.noArgs(fs, "accounts-by-l1-address", args); code >= 0 {
		return code
	}
	if code := c.required(fs, "l1_address"); code >= 0 {
		return code
	}
	return c.call(ctx, func(s *lighter.Session) (any, error) { return s.AccountsByL1Address(ctx, *addr) })
}

package lighter

import (
	"context"
	"math"
	"strconv"
)

// FundingsQuery selects a market's funding history.
type FundingsQuery struct {
	// MarketID is the market's index, 0 to MaxMarketID (market_id).
	MarketID int
	// Resolution is the step: "1h" or "1d" (resolution).
	Resolution string
	// StartTimestamp and EndTimestamp bound the history (start_timestamp,
	// end_timestamp), 0 <= StartTimestamp <= EndTimestamp <= MaxTimestamp.
	StartTimestamp int64
	EndTimestamp   int64
	// CountBack is how many entries before EndTimestamp to return; 0 for
	// the whole range (count_back).
	CountBack int64
}

// Fundings returns a market's funding history (GET /api/v1/fundings?
// market_id=...&resolution=...&start_timestamp=...&end_timestamp=...&
// count_back=...).
func (s *Session) Fundings(ctx context.Context, q FundingsQuery) (*Fundings, error) {
	p := newQuery("fundings")
	p.marketID(q.MarketID)
	if p.err != nil {
		return nil, p.err
	}
	if err := checkRange("fundings", q.Resolution, FundingResolutions(), q.StartTimestamp, q.EndTimestamp, q.CountBack); err != nil {
		return nil, err
	}
	p.v.Set("resolution", q.Resolution)
	p.v.Set("start_timestamp", strconv.FormatInt(q.StartTimestamp, 10))
	p.v.Set("end_timestamp", strconv.FormatInt(q.EndTimestamp, 10))
	p.v.Set("count_back", strconv.FormatInt(q.CountBack, 10))
	var out Fundings
	if err := s.GetJSON(ctx, PathFundings, p.v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FundingRates returns the current funding rate of every market, on
// Lighter and the exchanges it compares with (GET /api/v1/funding-rates).
func (s *Session) FundingRates(ctx context.Context) (*FundingRates, error) {
	var out FundingRates
	if err := s.GetJSON(ctx, PathFundingRates, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RecentTrades returns a market's latest trades, newest first, at most
// limit (1 to MaxPageLimit) of them (GET /api/v1/recentTrades?market_id=
// ...&limit=...).
func (s *Session) RecentTrades(ctx context.Context, marketID, limit int) (*Trades, error) {
	p := newQuery("recentTrades")
	p.marketID(marketID)
	p.int("limit", int64(limit), 1, MaxPageLimit)
	if p.err != nil {
		return nil, p.err
	}
	var out Trades
	if err := s.GetJSON(ctx, PathRecentTrades, p.v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Values of the enum parameters of /api/v1/trades.
var (
	tradeSortBy = []string{"block_height", "timestamp", "trade_id"}
	tradeRoles  = []string{"all", "maker", "taker"}
	tradeTypes  = []string{"all", "trade", "liquidation", "deleverage", "market-settlement"}
	orderFilter = []string{"all", "spot", "perp"}
)

// TradesQuery selects a page of trades. SortBy and Limit are required;
// every other field left zero (or nil) is not sent, so Lighter applies
// its default.
type TradesQuery struct {
	// SortBy is "block_height", "timestamp" or "trade_id" (sort_by,
	// required).
	SortBy string
	// Limit is the page size, 1 to MaxPageLimit (limit, required).
	Limit int
	// MarketID is the market, 0 to MaxMarketID; nil (Lighter's default,
	// AllMarkets) for every market (market_id).
	MarketID *int
	// AccountIndex is the account whose trades to list; nil (Lighter's
	// -1) for every account (account_index).
	AccountIndex *int64
	// OrderIndex is the order whose trades to list; nil for any
	// (order_index).
	OrderIndex *int64
	// SortDir is "desc", Lighter's only and default direction, or ""
	// (sort_dir).
	SortDir string
	// Cursor is the NextCursor of the previous page; "" for the first
	// (cursor).
	Cursor string
	// From is where the listing starts, in SortBy's terms; nil (Lighter's
	// -1) for the newest (from).
	From *int64
	// AskFilter is -1 (Lighter's default) for both sides, or a side
	// filter (ask_filter, an int8).
	AskFilter *int
	// Role is "all" (Lighter's default), "maker" or "taker" (role).
	Role string
	// Type is "all" (Lighter's default), "trade", "liquidation",
	// "deleverage" or "market-settlement" (type).
	Type string
	// Aggregate merges the fills of one order (aggregate=true); false is
	// Lighter's default and not sent.
	Aggregate bool
}

// params checks q against the spec and returns its parameters.
func (q TradesQuery) params() (*query, error) {
	p := newQuery("trades")
	p.enum("sort_by", q.SortBy, true, tradeSortBy)
	p.int("limit", int64(q.Limit), 1, MaxPageLimit)
	if q.MarketID != nil {
		p.marketID(*q.MarketID)
	}
	p.optInt("account_index", q.AccountIndex, -1, math.MaxInt64)
	p.optInt("order_index", q.OrderIndex, 0, math.MaxInt64)
	p.enum("sort_dir", q.SortDir, false, []string{"desc"})
	if q.Cursor != "" {
		p.v.Set("cursor", q.Cursor)
	}
	p.optInt("from", q.From, -1, math.MaxInt64)
	if q.AskFilter != nil {
		p.int("ask_filter", int64(*q.AskFilter), math.MinInt8, math.MaxInt8)
	}
	p.enum("role", q.Role, false, tradeRoles)
	p.enum("type", q.Type, false, tradeTypes)
	if q.Aggregate {
		p.v.Set("aggregate", strconv.FormatBool(true))
	}
	return p, p.err
}

// Trades returns one page of trades (GET /api/v1/trades?sort_by=...&
// limit=...&...); its NextCursor, in the next query's Cursor, asks for the
// next page. AllTrades walks every page.
func (s *Session) Trades(ctx context.Context, q TradesQuery) (*Trades, error) {
	p, err := q.params()
	if err != nil {
		return nil, err
	}
	var out Trades
	if err := s.GetJSON(ctx, PathTrades, p.v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OrderBookDetailsQuery selects markets for OrderBookDetails.
type OrderBookDetailsQuery struct {
	// MarketID is one market, 0 to MaxMarketID; nil (Lighter's default,
	// AllMarkets) for every market (market_id).
	MarketID *int
	// Filter is "all" (Lighter's default), "spot" or "perp" (filter).
	Filter string
}

// OrderBookDetails returns markets with their day's statistics
// (GET /api/v1/orderBookDetails?market_id=...&filter=...).
func (s *Session) OrderBookDetails(ctx context.Context, q OrderBookDetailsQuery) (*OrderBookDetails, error) {
	p := newQuery("orderBookDetails")
	p.optMarketID(q.MarketID)
	p.enum("filter", q.Filter, false, orderFilter)
	if p.err != nil {
		return nil, p.err
	}
	var out OrderBookDetails
	if err := s.GetJSON(ctx, PathOrderBookDetails, p.v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExchangeStats returns the last day's statistics of every market
// (GET /api/v1/exchangeStats).
func (s *Session) ExchangeStats(ctx context.Context) (*ExchangeStats, error) {
	var out ExchangeStats
	if err := s.GetJSON(ctx, PathExchangeStats, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AccountsByL1Address returns the accounts of an Ethereum address, 0x and
// 40 hex digits (GET /api/v1/accountsByL1Address?l1_address=...).
func (s *Session) AccountsByL1Address(ctx context.Context, l1Address string) (*SubAccounts, error) {
	p := newQuery("accountsByL1Address")
	switch {
	case l1Address == "":
		p.fail("l1_address is required")
	case !isL1Address(l1Address):
		p.fail("invalid l1_address %q: want 0x and 40 hex digits", l1Address)
	default:
		p.v.Set("l1_address", l1Address)
	}
	if p.err != nil {
		return nil, p.err
	}
	var out SubAccounts
	if err := s.GetJSON(ctx, PathAccountsByL1Address, p.v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

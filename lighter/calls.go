package lighter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Endpoint paths of the typed calls.
const (
	PathSystemConfig        = "/api/v1/systemConfig"
	PathPublicPoolsMetadata = "/api/v1/publicPoolsMetadata"
	PathAccount             = "/api/v1/account"
	PathPnL                 = "/api/v1/pnl"
	PathOrderBooks          = "/api/v1/orderBooks"
	PathCandles             = "/api/v1/candles"
	PathFundings            = "/api/v1/fundings"
	PathFundingRates        = "/api/v1/funding-rates"
	PathRecentTrades        = "/api/v1/recentTrades"
	PathTrades              = "/api/v1/trades"
	PathOrderBookDetails    = "/api/v1/orderBookDetails"
	PathExchangeStats       = "/api/v1/exchangeStats"
	PathAccountsByL1Address = "/api/v1/accountsByL1Address"
)

// PoolsPageSize is the page size PublicPoolsMetadata asks for, the largest
// Lighter allows.
const PoolsPageSize = 100

// MaxPoolPages bounds the pages PublicPoolsMetadata reads (100,000 pools).
const MaxPoolPages = 1000

// MaxTimestamp is the largest start or end timestamp Lighter accepts.
const MaxTimestamp = 5_000_000_000_000

// ErrAccountNotFound is returned by Account when Lighter answers with no
// account for the index.
var ErrAccountNotFound = errors.New("lighter: account not found")

// SystemConfig returns the exchange's system configuration
// (GET /api/v1/systemConfig), among it the LLP's account index.
func (s *Session) SystemConfig(ctx context.Context) (*SystemConfig, error) {
	var cfg SystemConfig
	if err := s.GetJSON(ctx, PathSystemConfig, nil, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// PublicPoolsMetadataPage returns one page of public pools
// (GET /api/v1/publicPoolsMetadata?filter=all&index=...&limit=...): the
// pools whose account index is below index (Lighter's index is
// exclusive), highest first, at most limit (1 to 100) of them. IsLLP is
// never set: see PublicPoolsMetadata.
func (s *Session) PublicPoolsMetadataPage(ctx context.Context, index int64, limit int) ([]PoolMetadata, error) {
	q := newQuery("publicPoolsMetadata")
	q.v.Set("filter", "all")
	q.int("index", index, 0, math.MaxInt64)
	q.int("limit", int64(limit), 1, PoolsPageSize)
	if q.err != nil {
		return nil, q.err
	}
	var page PublicPoolsPage
	if err := s.GetJSON(ctx, PathPublicPoolsMetadata, q.v, &page); err != nil {
		return nil, err
	}
	return page.PublicPools, nil
}

// PublicPoolsMetadata returns every public pool once, the LLP (the
// deployment's liquidity pool) included, with IsLLP set and the type
// AccountInsuranceFund; an LLP missing from the pages is read from its
// Account. It pages down from the LLP's index (the deployment's, or
// SystemConfig's), PoolsPageSize pools at a time, until a short page or
// index 0.
//
// A page holding a pool at or above the index asked for is an error (the
// server does not page as Lighter does); full pages past MaxPoolPages are
// an error matching ErrTooManyPages.
func (s *Session) PublicPoolsMetadata(ctx context.Context) ([]PoolMetadata, error) {
	llp, err := s.llpIndex(ctx)
	if err != nil {
		return nil, err
	}
	index := int64(maxAccountIndex + 1)
	if llp != 0 {
		index = llp + 1
	}
	var pools []PoolMetadata
	for pages := 0; index > 0; pages++ {
		if pages == MaxPoolPages {
			return nil, fmt.Errorf("%w: publicPoolsMetadata: %d pages of pools read and pools below index %d left", ErrTooManyPages, pages, index)
		}
		page, err := s.PublicPoolsMetadataPage(ctx, index, PoolsPageSize)
		if err != nil {
			return nil, err
		}
		lowest := index
		for _, p := range page {
			if p.AccountIndex >= lowest {
				return nil, fmt.Errorf("lighter: publicPoolsMetadata: page below index %d lists pool %d after %d: want indexes below it, highest first", index, p.AccountIndex, lowest)
			}
			if p.AccountIndex < 0 {
				return nil, fmt.Errorf("lighter: publicPoolsMetadata: page below index %d lists pool %d: account indexes are >= 0", index, p.AccountIndex)
			}
			lowest = p.AccountIndex
			p.IsLLP = llp != 0 && p.AccountIndex == llp
			if p.IsLLP {
				p.AccountType = AccountInsuranceFund
			}
			pools = append(pools, p)
		}
		if len(page) < PoolsPageSize {
			break
		}
		index = lowest
	}
	if llp == 0 || slices.ContainsFunc(pools, func(p PoolMetadata) bool { return p.IsLLP }) {
		return pools, nil
	}
	acct, err := s.Account(ctx, llp)
	if err != nil {
		return nil, fmt.Errorf("lighter: adding the LLP (account %d) to the public pools: %w", llp, err)
	}
	return append(pools, llpMetadata(acct)), nil
}

// maxAccountIndex is the largest account index Lighter has (2^48 - 1).
const maxAccountIndex = 1<<48 - 1

// llpIndex is the LLP's account index: the deployment's pinned one, else
// SystemConfig's, which must be an account index (0 for none).
func (s *Session) llpIndex(ctx context.Context) (int64, error) {
	if pinned := s.cfg.deployment.LLPIndex; pinned != 0 {
		return pinned, nil
	}
	cfg, err := s.SystemConfig(ctx)
	if err != nil {
		return 0, err
	}
	if llp := cfg.LiquidityPoolIndex; llp < 0 || llp > maxAccountIndex {
		return 0, fmt.Errorf("lighter: systemConfig: liquidity_pool_index %d is no account index (0 to %d)", llp, int64(maxAccountIndex))
	}
	return cfg.LiquidityPoolIndex, nil
}

// llpMetadata is the LLP's PoolMetadata built from its account, with the
// original's fixed values for what the account does not say.
func llpMetadata(a *Account) PoolMetadata {
	p := PoolMetadata{
		AccountIndex:    a.AccountIndex,
		AccountType:     AccountInsuranceFund,
		Name:            a.Name,
		TotalAssetValue: a.TotalAssetValue,
		CreatedAt:       a.CreatedAt,
		Assets:          a.Assets,
		IsLLP:           true,
	}
	if p.Name == "" {
		p.Name = "LLP"
	}
	if info := a.PoolInfo; info != nil {
		p.AnnualPercentageYield = info.AnnualPercentageYield
		p.SharpeRatio = info.SharpeRatio
		p.OperatorFee = info.OperatorFee
		p.TotalShares = info.TotalShares
		p.Status = info.Status
	}
	return p
}

// Account returns the account with the given index
// (GET /api/v1/account?by=index&value=N). It is ErrAccountNotFound when
// Lighter returns no account, and an error when it returns another index.
func (s *Session) Account(ctx context.Context, index int64) (*Account, error) {
	if index < 0 {
		return nil, paramErrorf("lighter: account: invalid index %d (value): must be >= 0", index)
	}
	params := url.Values{"by": {"index"}, "value": {strconv.FormatInt(index, 10)}}
	var resp Accounts
	if err := s.GetJSON(ctx, PathAccount, params, &resp); err != nil {
		return nil, err
	}
	if len(resp.Accounts) == 0 {
		return nil, fmt.Errorf("%w: index %d", ErrAccountNotFound, index)
	}
	a := &resp.Accounts[0]
	a.normalize()
	if a.AccountIndex != index {
		return nil, fmt.Errorf("lighter: account: asked for index %d, Lighter returned %d", index, a.AccountIndex)
	}
	return a, nil
}

// PnLQuery selects an account's PnL chart. The original asks for
// Resolution "1d" from 2025-01-01 to now in Unix seconds, with CountBack 0
// and IgnoreTransfers false (a far-future end makes Lighter add a
// synthetic end-of-range point).
type PnLQuery struct {
	// AccountIndex is the account (by=index, value=AccountIndex).
	AccountIndex int64
	// Resolution is the step: 1m, 5m, 15m, 1h, 4h or 1d.
	Resolution string
	// StartTimestamp and EndTimestamp bound the chart, in Unix seconds
	// as the original sends them; 0 <= StartTimestamp <= EndTimestamp <=
	// MaxTimestamp. An EndTimestamp of 0 is now, the original's end.
	StartTimestamp int64
	EndTimestamp   int64
	// CountBack is how many points before EndTimestamp to return; 0 for
	// the whole range.
	CountBack int64
	// IgnoreTransfers leaves deposits and transfers out of the PnL. The
	// default value is false, the original's (ignore_transfers=false is
	// sent).
	IgnoreTransfers bool
}

// PnLResolutions returns the resolutions /api/v1/pnl accepts.
func PnLResolutions() []string { return []string{"1m", "5m", "15m", "1h", "4h", "1d"} }

// CandleResolutions returns the resolutions /api/v1/candles accepts.
func CandleResolutions() []string {
	return []string{"1m", "5m", "15m", "30m", "1h", "4h", "12h", "1d", "1w"}
}

// FundingResolutions returns the resolutions /api/v1/fundings accepts.
func FundingResolutions() []string { return []string{"1h", "1d"} }

// PnL returns an account's PnL chart (GET /api/v1/pnl?by=index&value=N&
// resolution=...&start_timestamp=...&end_timestamp=...&count_back=...&
// ignore_transfers=...).
func (s *Session) PnL(ctx context.Context, q PnLQuery) (*PnL, error) {
	if q.EndTimestamp == 0 {
		q.EndTimestamp = time.Now().Unix()
	}
	if q.AccountIndex < 0 {
		return nil, paramErrorf("lighter: pnl: invalid AccountIndex %d (value): must be >= 0", q.AccountIndex)
	}
	if err := checkRange("pnl", q.Resolution, PnLResolutions(), q.StartTimestamp, q.EndTimestamp, q.CountBack); err != nil {
		return nil, err
	}
	params := url.Values{
		"by":               {"index"},
		"value":            {strconv.FormatInt(q.AccountIndex, 10)},
		"resolution":       {q.Resolution},
		"start_timestamp":  {strconv.FormatInt(q.StartTimestamp, 10)},
		"end_timestamp":    {strconv.FormatInt(q.EndTimestamp, 10)},
		"count_back":       {strconv.FormatInt(q.CountBack, 10)},
		"ignore_transfers": {strconv.FormatBool(q.IgnoreTransfers)},
	}
	var pnl PnL
	if err := s.GetJSON(ctx, PathPnL, params, &pnl); err != nil {
		return nil, err
	}
	return &pnl, nil
}

// OrderBooks returns every market (GET /api/v1/orderBooks).
func (s *Session) OrderBooks(ctx context.Context) ([]OrderBook, error) {
	var resp OrderBookList
	if err := s.GetJSON(ctx, PathOrderBooks, nil, &resp); err != nil {
		return nil, err
	}
	return resp.OrderBooks, nil
}

// CandlesQuery selects a market's candles.
type CandlesQuery struct {
	// MarketID is the market's index, 0 to 32767.
	MarketID int
	// Resolution is the candle width: 1m, 5m, 15m, 30m, 1h, 4h, 12h, 1d
	// or 1w.
	Resolution string
	// StartTimestamp and EndTimestamp bound the candles, in Unix
	// milliseconds; 0 <= StartTimestamp <= EndTimestamp <= MaxTimestamp.
	StartTimestamp int64
	EndTimestamp   int64
	// CountBack is how many candles before EndTimestamp to return; 0 for
	// as many as the range holds. Lighter returns at most 500 per call.
	CountBack int64
	// SetTimestampToEnd stamps each candle with its closing time instead
	// of its opening time.
	SetTimestampToEnd bool
}

// Candles returns a market's candles (GET /api/v1/candles?market_id=...&
// resolution=...&start_timestamp=...&end_timestamp=...&count_back=...),
// at most 500 per call.
func (s *Session) Candles(ctx context.Context, q CandlesQuery) (*Candles, error) {
	if q.MarketID < 0 || q.MarketID > MaxMarketID {
		return nil, paramErrorf("lighter: candles: invalid MarketID %d (market_id): must be 0 to %d", q.MarketID, MaxMarketID)
	}
	if err := checkRange("candles", q.Resolution, CandleResolutions(), q.StartTimestamp, q.EndTimestamp, q.CountBack); err != nil {
		return nil, err
	}
	params := url.Values{
		"market_id":       {strconv.Itoa(q.MarketID)},
		"resolution":      {q.Resolution},
		"start_timestamp": {strconv.FormatInt(q.StartTimestamp, 10)},
		"end_timestamp":   {strconv.FormatInt(q.EndTimestamp, 10)},
		"count_back":      {strconv.FormatInt(q.CountBack, 10)},
	}
	if q.SetTimestampToEnd {
		params.Set("set_timestamp_to_end", "true")
	}
	var c Candles
	if err := s.GetJSON(ctx, PathCandles, params, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkRange validates the query fields /api/v1/pnl and /api/v1/candles
// share, naming the bad value.
func checkRange(call, resolution string, resolutions []string, start, end, countBack int64) error {
	switch {
	case resolution == "":
		return paramErrorf("lighter: %s: empty Resolution (resolution is required): want one of %v", call, resolutions)
	case !slices.Contains(resolutions, resolution):
		return paramErrorf("lighter: %s: invalid Resolution %q (resolution): want one of %v", call, resolution, resolutions)
	case start < 0 || start > MaxTimestamp:
		return paramErrorf("lighter: %s: invalid StartTimestamp %d (start_timestamp): must be 0 to %d", call, start, int64(MaxTimestamp))
	case end < 0 || end > MaxTimestamp:
		return paramErrorf("lighter: %s: invalid EndTimestamp %d (end_timestamp): must be 0 to %d", call, end, int64(MaxTimestamp))
	case end < start:
		return paramErrorf("lighter: %s: EndTimestamp %d is before StartTimestamp %d (end_timestamp, start_timestamp)", call, end, start)
	case countBack < 0:
		return paramErrorf("lighter: %s: invalid CountBack %d (count_back): must be >= 0", call, countBack)
	}
	return nil
}

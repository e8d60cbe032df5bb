package lighter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Decimal is a decimal value as Lighter sends it, kept as its exact text
// ("19995.123456"). Lighter writes most amounts as JSON strings and some as
// numbers; Decimal accepts both, so a field changing form does not break
// decoding. The empty Decimal means the field was absent or null.
type Decimal string

// UnmarshalJSON accepts a JSON string, a number or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Decimal(s)
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("lighter: decimal: want a string or a number, got %s", b)
		}
		*d = Decimal(n)
		return nil
	}
}

// Float64 returns d as a float64: 0 for the empty Decimal, an error naming
// the text when it is not a number.
func (d Decimal) Float64() (float64, error) {
	if d == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil {
		return 0, fmt.Errorf("lighter: decimal %q is not a number", string(d))
	}
	return f, nil
}

// IsZero reports whether d is absent (empty).
func (d Decimal) IsZero() bool { return d == "" }

// String returns the text of d.
func (d Decimal) String() string { return string(d) }

// SystemConfig is the answer of /api/v1/systemConfig: the exchange's
// special accounts and periods.
type SystemConfig struct {
	// LiquidityPoolIndex is the account index of the LLP, the protocol's
	// own liquidity pool; PublicPoolsMetadata pages down from it.
	LiquidityPoolIndex int64 `json:"liquidity_pool_index"`
	// StakingPoolIndex is the account index of the staking pool.
	StakingPoolIndex int64 `json:"staking_pool_index"`
	// FundingFeeRebateAccountIndex is the account paying funding rebates.
	FundingFeeRebateAccountIndex int64 `json:"funding_fee_rebate_account_index"`
	// MarketMakerIncentiveAccountIndex is the account paying maker
	// incentives.
	MarketMakerIncentiveAccountIndex int64 `json:"market_maker_incentive_account_index"`
	// LiquidityPoolCooldownPeriod is the LLP withdrawal cooldown in
	// milliseconds (300000: 5 minutes).
	LiquidityPoolCooldownPeriod int64 `json:"liquidity_pool_cooldown_period"`
	// StakingPoolLockupPeriod is the staking lock-up in milliseconds.
	StakingPoolLockupPeriod int64 `json:"staking_pool_lockup_period"`
}

// PoolMetadata is one public pool from /api/v1/publicPoolsMetadata (the
// original's LighterPoolSummary).
type PoolMetadata struct {
	// AccountIndex is the pool's account index, its identifier.
	AccountIndex int64 `json:"account_index"`
	// AccountType is the account type code (2 for a pool).
	AccountType int `json:"account_type"`
	// Name is the pool's display name.
	Name string `json:"name"`
	// L1Address is the Ethereum address of the pool's operator.
	L1Address string `json:"l1_address"`
	// AnnualPercentageYield is the pool's APY, in percent.
	AnnualPercentageYield Decimal `json:"annual_percentage_yield"`
	// SharpeRatio is the pool's risk-adjusted return; empty when Lighter
	// has none.
	SharpeRatio Decimal `json:"sharpe_ratio"`
	// OperatorFee is the operator's fee in percent ("10" is 10 %).
	OperatorFee Decimal `json:"operator_fee"`
	// TotalAssetValue is the pool's TVL in USDC.
	TotalAssetValue Decimal `json:"total_asset_value"`
	// TotalShares is the number of pool shares outstanding.
	TotalShares int64 `json:"total_shares"`
	// Status is the pool status code (0 is active).
	Status int `json:"status"`
	// MasterAccountIndex is the operator's main account.
	MasterAccountIndex int64 `json:"master_account_index"`
	// CreatedAt is the creation time in Unix seconds; 0 when unknown.
	CreatedAt int64 `json:"created_at"`
	// IsLLP reports whether this is the LLP, the protocol's own pool. It
	// is not part of Lighter's answer: PublicPoolsMetadata sets it.
	IsLLP bool `json:"-"`
}

// Account is one account from /api/v1/account (Lighter's
// DetailedAccount), trimmed to the fields the original's callers read.
type Account struct {
	// AccountIndex is the account's index. Lighter sends it both as
	// "account_index" and "index"; either fills it.
	AccountIndex int64 `json:"account_index"`
	// AccountType is the account type code (0 ordinary, 1 sub-account,
	// 2 public pool, as Lighter numbers them).
	AccountType int `json:"account_type"`
	// L1Address is the owner's Ethereum address.
	L1Address string `json:"l1_address"`
	// Name is the account's display name (pools have one).
	Name string `json:"name"`
	// Description is the account's description text.
	Description string `json:"description"`
	// Status is the account status code.
	Status int `json:"status"`
	// Collateral is the collateral before unrealised PnL, in USDC.
	Collateral Decimal `json:"collateral"`
	// AvailableBalance is the free collateral, in USDC.
	AvailableBalance Decimal `json:"available_balance"`
	// TotalAssetValue is the account's NAV as Lighter reports it, in USDC.
	TotalAssetValue Decimal `json:"total_asset_value"`
	// CrossAssetValue is the cross-margin asset value, in USDC.
	CrossAssetValue Decimal `json:"cross_asset_value"`
	// CrossInitialMarginRequirement is the cross-margin initial margin
	// requirement, in USDC.
	CrossInitialMarginRequirement Decimal `json:"cross_initial_margin_requirement"`
	// CrossMaintenanceMarginRequirement is the cross-margin maintenance
	// margin requirement, in USDC.
	CrossMaintenanceMarginRequirement Decimal `json:"cross_maintenance_margin_requirement"`
	// Positions are the account's positions, zero ones included.
	Positions []Position `json:"positions"`
	// PoolInfo is set for a public pool account: share prices, returns,
	// fee and shares.
	PoolInfo *PoolInfo `json:"pool_info"`
	// CreatedAt is the creation time in Unix seconds.
	CreatedAt int64 `json:"created_at"`
}

// UnmarshalJSON fills AccountIndex from "account_index", or from "index"
// when the former is absent.
func (a *Account) UnmarshalJSON(b []byte) error {
	type plain Account
	var v struct {
		plain
		AccountIndex *int64 `json:"account_index"`
		Index        *int64 `json:"index"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Account(v.plain)
	switch {
	case v.AccountIndex != nil:
		a.AccountIndex = *v.AccountIndex
	case v.Index != nil:
		a.AccountIndex = *v.Index
	}
	return nil
}

// Position is one market position of an Account.
type Position struct {
	// MarketID is the market's index (0 is ETH on mainnet).
	MarketID int `json:"market_id"`
	// Symbol is the market's symbol ("ETH").
	Symbol string `json:"symbol"`
	// Sign is 1 for a long and -1 for a short.
	Sign int `json:"sign"`
	// Position is the absolute size in base units.
	Position Decimal `json:"position"`
	// AvgEntryPrice is the average entry price.
	AvgEntryPrice Decimal `json:"avg_entry_price"`
	// PositionValue is the absolute notional at the current price.
	PositionValue Decimal `json:"position_value"`
	// UnrealizedPnL is the unrealised PnL in USDC.
	UnrealizedPnL Decimal `json:"unrealized_pnl"`
	// RealizedPnL is the realised PnL in USDC.
	RealizedPnL Decimal `json:"realized_pnl"`
	// LiquidationPrice is the price at which the position is liquidated.
	LiquidationPrice Decimal `json:"liquidation_price"`
	// MarginMode is 0 for cross and 1 for isolated margin.
	MarginMode int `json:"margin_mode"`
	// AllocatedMargin is the isolated margin, in USDC.
	AllocatedMargin Decimal `json:"allocated_margin"`
}

// PoolInfo is the pool part of a pool Account.
type PoolInfo struct {
	// Status is the pool status code (0 is active).
	Status int `json:"status"`
	// OperatorFee is the operator's fee in percent.
	OperatorFee Decimal `json:"operator_fee"`
	// MinOperatorShareRate is the least share of the pool the operator
	// must keep.
	MinOperatorShareRate Decimal `json:"min_operator_share_rate"`
	// TotalShares is the number of shares outstanding.
	TotalShares int64 `json:"total_shares"`
	// OperatorShares is the operator's shares.
	OperatorShares int64 `json:"operator_shares"`
	// AnnualPercentageYield is the APY, in percent.
	AnnualPercentageYield Decimal `json:"annual_percentage_yield"`
	// SharpeRatio is the risk-adjusted return; empty when Lighter has none.
	SharpeRatio Decimal `json:"sharpe_ratio"`
	// SharePrices is the share price history, oldest first.
	SharePrices []SharePrice `json:"share_prices"`
	// DailyReturns is the daily return history, oldest first.
	DailyReturns []DailyReturn `json:"daily_returns"`
}

// SharePrice is a pool's share price at a time.
type SharePrice struct {
	// Timestamp is in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// SharePrice is the price of one share, in USDC.
	SharePrice float64 `json:"share_price"`
}

// DailyReturn is a pool's return over the day ending at a time.
type DailyReturn struct {
	// Timestamp is in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// DailyReturn is the day's return as a fraction (0.01 is 1 %).
	DailyReturn float64 `json:"daily_return"`
}

// PnL is the answer of /api/v1/pnl: an account's PnL chart.
type PnL struct {
	// Resolution is the step between entries ("1d").
	Resolution string `json:"resolution"`
	// Entries are the chart's points, oldest first; every figure is
	// cumulative since the account began, in USDC.
	Entries []PnLEntry `json:"pnl"`
}

// PnLEntry is one point of a PnL chart.
type PnLEntry struct {
	// Timestamp is in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// TradePnL is the trading PnL.
	TradePnL float64 `json:"trade_pnl"`
	// Inflow is the deposits and transfers in.
	Inflow float64 `json:"inflow"`
	// Outflow is the withdrawals and transfers out.
	Outflow float64 `json:"outflow"`
	// PoolPnL is the PnL of the account's pool shares.
	PoolPnL float64 `json:"pool_pnl"`
	// PoolInflow is the amount put into pools.
	PoolInflow float64 `json:"pool_inflow"`
	// PoolOutflow is the amount taken out of pools.
	PoolOutflow float64 `json:"pool_outflow"`
	// PoolTotalShares is, for a pool account, its total shares at
	// Timestamp: the original multiplies it by the share price for a
	// historical TVL.
	PoolTotalShares float64 `json:"pool_total_shares"`
}

// OrderBook is one market from /api/v1/orderBooks.
type OrderBook struct {
	// Symbol is the market's symbol ("ETH", "ETH/USDC").
	Symbol string `json:"symbol"`
	// MarketID is the market's index.
	MarketID int `json:"market_id"`
	// MarketType is "perp" or "spot".
	MarketType string `json:"market_type"`
	// Status is "active" or "inactive".
	Status string `json:"status"`
	// TakerFee is the taker fee, in percent.
	TakerFee Decimal `json:"taker_fee"`
	// MakerFee is the maker fee, in percent.
	MakerFee Decimal `json:"maker_fee"`
	// LiquidationFee is the liquidation fee, in percent.
	LiquidationFee Decimal `json:"liquidation_fee"`
	// MinBaseAmount is the smallest order size in base units.
	MinBaseAmount Decimal `json:"min_base_amount"`
	// MinQuoteAmount is the smallest order size in quote units.
	MinQuoteAmount Decimal `json:"min_quote_amount"`
	// SupportedSizeDecimals is the number of decimals an order size may
	// have.
	SupportedSizeDecimals int `json:"supported_size_decimals"`
	// SupportedPriceDecimals is the number of decimals a price may have.
	SupportedPriceDecimals int `json:"supported_price_decimals"`
	// SupportedQuoteDecimals is size decimals plus quote decimals.
	SupportedQuoteDecimals int `json:"supported_quote_decimals"`
}

// Candles is the answer of /api/v1/candles.
type Candles struct {
	// Resolution is the candle width ("1m").
	Resolution string `json:"r"`
	// Candles are oldest first, at most 500.
	Candles []Candle `json:"c"`
}

// Candle is one candle. Lighter leaves out a field whose value is zero.
type Candle struct {
	// Timestamp is the candle's opening time in Unix milliseconds.
	Timestamp int64 `json:"t"`
	// Open, High, Low and Close are the prices.
	Open  float64 `json:"o"`
	High  float64 `json:"h"`
	Low   float64 `json:"l"`
	Close float64 `json:"c"`
	// BaseVolume is the volume in the base token.
	BaseVolume float64 `json:"v"`
	// QuoteVolume is the volume in the quote token.
	QuoteVolume float64 `json:"V"`
	// LastTradeID is the ID of the candle's last trade.
	LastTradeID int64 `json:"i"`
	// OpenRaw, HighRaw, LowRaw and CloseRaw are Lighter's unadjusted
	// prices ("O", "H", "L", "C"). They are declared so that
	// encoding/json, which matches keys case-insensitively, never writes
	// "C" into Close.
	OpenRaw  float64 `json:"O"`
	HighRaw  float64 `json:"H"`
	LowRaw   float64 `json:"L"`
	CloseRaw float64 `json:"C"`
}

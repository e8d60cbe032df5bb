package lighter

// The answers of the endpoints the Session calls, with every field Lighter's
// OpenAPI description lists (lighter/testdata/spec_fields.json, checked by
// TestSpecFields). Amounts Lighter sends as strings are Decimals, kept as
// their exact text; the spec's numbers are float64. A field whose absence
// means something is a pointer: nil when Lighter left it out or sent null.

// ResultCode is the status part of every answer: Lighter's code (200 for
// success) and message. It is embedded in each answer type.
type ResultCode struct {
	// Code is Lighter's result code, 200 for success.
	Code int `json:"code"`
	// Message is Lighter's message, usually empty on success.
	Message string `json:"message,omitempty"`
}

// SystemConfig is the answer of /api/v1/systemConfig: the exchange's
// special accounts, periods and fee caps.
type SystemConfig struct {
	ResultCode
	// LiquidityPoolIndex is the account index of the LLP, the protocol's
	// own liquidity pool.
	LiquidityPoolIndex int64 `json:"liquidity_pool_index"`
	// StakingPoolIndex is the account index of the staking pool.
	StakingPoolIndex int64 `json:"staking_pool_index"`
	// FundingFeeRebateAccountIndex is the account paying funding rebates.
	FundingFeeRebateAccountIndex int64 `json:"funding_fee_rebate_account_index"`
	// MarketMakerIncentiveAccountIndex is the account paying maker
	// incentives (sent by Lighter, not in its OpenAPI description).
	MarketMakerIncentiveAccountIndex int64 `json:"market_maker_incentive_account_index,omitempty"`
	// LiquidityPoolCooldownPeriod is the LLP withdrawal cooldown in
	// milliseconds (300000: 5 minutes).
	LiquidityPoolCooldownPeriod int64 `json:"liquidity_pool_cooldown_period"`
	// StakingPoolLockupPeriod is the staking lock-up in milliseconds.
	StakingPoolLockupPeriod int64 `json:"staking_pool_lockup_period"`
	// MaxIntegratorSpotTakerFee, MaxIntegratorSpotMakerFee,
	// MaxIntegratorPerpsTakerFee and MaxIntegratorPerpsMakerFee are the
	// largest fees an integrator may charge.
	MaxIntegratorSpotTakerFee  int `json:"max_integrator_spot_taker_fee"`
	MaxIntegratorSpotMakerFee  int `json:"max_integrator_spot_maker_fee"`
	MaxIntegratorPerpsTakerFee int `json:"max_integrator_perps_taker_fee"`
	MaxIntegratorPerpsMakerFee int `json:"max_integrator_perps_maker_fee"`
}

// PublicPoolsPage is the answer of /api/v1/publicPoolsMetadata: one page
// of pools.
type PublicPoolsPage struct {
	ResultCode
	// PublicPools are the page's pools, highest index first.
	PublicPools []PoolMetadata `json:"public_pools"`
}

// PoolStatusActive is the status code of an active pool.
const PoolStatusActive = 0

// PoolMetadata is one public pool from /api/v1/publicPoolsMetadata (the
// original's LighterPoolSummary, Lighter's PublicPoolMetadata).
type PoolMetadata struct {
	ResultCode
	// AccountIndex is the pool's account index, its identifier.
	AccountIndex int64 `json:"account_index"`
	// CreatedAt is the creation time in Unix seconds; 0 when unknown.
	CreatedAt int64 `json:"created_at"`
	// MasterAccountIndex is the operator's main account.
	MasterAccountIndex int64 `json:"master_account_index"`
	// AccountType is AccountPublicPool for an operator's pool,
	// AccountInsuranceFund for the LLP, AccountStakingPool for staking.
	AccountType AccountType `json:"account_type"`
	// Name is the pool's display name.
	Name string `json:"name"`
	// L1Address is the Ethereum address of the pool's operator.
	L1Address string `json:"l1_address"`
	// AnnualPercentageYield is the pool's APY, in percent.
	AnnualPercentageYield float64 `json:"annual_percentage_yield"`
	// SharpeRatio is the pool's risk-adjusted return; nil when Lighter
	// sends none.
	SharpeRatio *float64 `json:"sharpe_ratio"`
	// Status is the pool status code (PoolStatusActive is active); nil
	// when Lighter sent none, which is not "active": see Active.
	Status *int `json:"status"`
	// OperatorFee is the operator's fee in percent ("10" is 10 %).
	OperatorFee Decimal `json:"operator_fee"`
	// TotalAssetValue is the pool's TVL in USDC.
	TotalAssetValue Decimal `json:"total_asset_value"`
	// TotalSpotValue and TotalPerpsValue split TotalAssetValue.
	TotalSpotValue  Decimal `json:"total_spot_value"`
	TotalPerpsValue Decimal `json:"total_perps_value"`
	// TotalShares is the number of pool shares outstanding.
	TotalShares int64 `json:"total_shares"`
	// AccountShare is the shares of the account_index asked about, when
	// one was.
	AccountShare *PoolShare `json:"account_share,omitempty"`
	// Assets are the pool's asset balances.
	Assets []AccountAsset `json:"assets"`
	// IsLLP reports whether this is the LLP, the protocol's own pool. It
	// is not part of Lighter's answer: PublicPoolsMetadata sets it.
	IsLLP bool `json:"-"`
}

// Active reports whether the pool is known to be active: false when its
// status is absent.
func (p PoolMetadata) Active() bool { return p.Status != nil && *p.Status == PoolStatusActive }

// PoolShare is an account's shares of a public pool.
type PoolShare struct {
	// PublicPoolIndex is the pool's account index.
	PublicPoolIndex int64 `json:"public_pool_index"`
	// SharesAmount is the number of shares held.
	SharesAmount int64 `json:"shares_amount"`
	// EntryUSDC is the USDC value at entry.
	EntryUSDC Decimal `json:"entry_usdc"`
	// PrincipalAmount is the principal put in, in USDC.
	PrincipalAmount Decimal `json:"principal_amount"`
	// EntryTimestamp is the entry time.
	EntryTimestamp int64 `json:"entry_timestamp"`
}

// AccountAsset is an asset balance of an account.
type AccountAsset struct {
	// Symbol is the asset's symbol ("USDC").
	Symbol string `json:"symbol"`
	// AssetID is the asset's index.
	AssetID int `json:"asset_id"`
	// Balance and LockedBalance are the free and locked amounts.
	Balance       Decimal `json:"balance"`
	LockedBalance Decimal `json:"locked_balance"`
}

// Accounts is the answer of /api/v1/account (Lighter's DetailedAccounts).
type Accounts struct {
	ResultCode
	// Total is the number of accounts found.
	Total int64 `json:"total"`
	// Accounts are the accounts.
	Accounts []Account `json:"accounts"`
}

// AccountSummary is an account as /api/v1/accountsByL1Address lists it
// (Lighter's Account); Account carries it with the details.
type AccountSummary struct {
	ResultCode
	// AccountType is the account's type.
	AccountType AccountType `json:"account_type"`
	// Index is the account's index.
	Index int64 `json:"index"`
	// L1Address is the Ethereum address owning the account.
	L1Address string `json:"l1_address"`
	// CancelAllTime is the time of the last cancel-all.
	CancelAllTime int64 `json:"cancel_all_time"`
	// TotalOrderCount, TotalIsolatedOrderCount and PendingOrderCount
	// count the account's orders.
	TotalOrderCount         int64 `json:"total_order_count"`
	TotalIsolatedOrderCount int64 `json:"total_isolated_order_count"`
	PendingOrderCount       int64 `json:"pending_order_count"`
	// AvailableBalance is the free collateral, in USDC.
	AvailableBalance Decimal `json:"available_balance"`
	// Status is the account status code.
	Status int `json:"status"`
	// Collateral is the account's collateral, in USDC.
	Collateral Decimal `json:"collateral"`
	// TransactionTime is the time of the last transaction, in
	// microseconds.
	TransactionTime int64 `json:"transaction_time"`
	// AccountTradingMode is the trading mode code.
	AccountTradingMode int `json:"account_trading_mode"`
}

// Account is one account from /api/v1/account (Lighter's
// DetailedAccount).
type Account struct {
	AccountSummary
	// AccountIndex is the account's index. Lighter sends it both as
	// "account_index" and "index" (AccountSummary.Index); Session.Account
	// fills each from the other when one is absent.
	AccountIndex int64 `json:"account_index"`
	// Name and Description are the account's, or a pool's, texts.
	Name        string `json:"name"`
	Description string `json:"description"`
	// CanInvite reports whether the account may invite referrals.
	CanInvite bool `json:"can_invite"`
	// ReferralPointsPercentage is the share of referral points.
	ReferralPointsPercentage Decimal `json:"referral_points_percentage"`
	// CreatedAt is the creation time in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Positions are the account's positions, zero ones included.
	Positions []Position `json:"positions"`
	// Assets are the account's asset balances.
	Assets []AccountAsset `json:"assets"`
	// TotalAssetValue is the account's NAV as Lighter reports it, in USDC.
	TotalAssetValue Decimal `json:"total_asset_value"`
	// CrossAssetValue is the cross-margin asset value, in USDC.
	CrossAssetValue Decimal `json:"cross_asset_value"`
	// CrossInitialMarginRequirement and CrossMaintenanceMarginRequirement
	// are the cross-margin requirements, in USDC (read by the original,
	// not in Lighter's OpenAPI description: empty when absent).
	CrossInitialMarginRequirement     Decimal `json:"cross_initial_margin_requirement,omitempty"`
	CrossMaintenanceMarginRequirement Decimal `json:"cross_maintenance_margin_requirement,omitempty"`
	// PoolInfo is set for a pool account: share prices, returns, fee and
	// shares; nil for any other account.
	PoolInfo *PoolInfo `json:"pool_info"`
	// Shares are the account's shares of public pools.
	Shares []PoolShare `json:"shares"`
	// PendingUnlocks are staked amounts waiting to unlock.
	PendingUnlocks []PendingUnlock `json:"pending_unlocks"`
	// ApprovedIntegrators are the integrators the account approved.
	ApprovedIntegrators []ApprovedIntegrator `json:"approved_integrators"`
}

// normalize fills AccountIndex and Index from each other when one is
// absent (zero).
func (a *Account) normalize() {
	switch {
	case a.AccountIndex == 0:
		a.AccountIndex = a.Index
	case a.Index == 0:
		a.Index = a.AccountIndex
	}
}

// Position is one market position of an Account (Lighter's
// AccountPosition).
type Position struct {
	// MarketID is the market's index (0 is ETH on mainnet).
	MarketID int `json:"market_id"`
	// Symbol is the market's symbol ("ETH").
	Symbol string `json:"symbol"`
	// InitialMarginFraction is the initial margin fraction, in percent.
	InitialMarginFraction Decimal `json:"initial_margin_fraction"`
	// OpenOrderCount, PendingOrderCount and PositionTiedOrderCount count
	// the position's orders.
	OpenOrderCount         int64 `json:"open_order_count"`
	PendingOrderCount      int64 `json:"pending_order_count"`
	PositionTiedOrderCount int64 `json:"position_tied_order_count"`
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
	// TotalFundingPaidOut is the funding paid; empty when absent (the
	// spec does not require it).
	TotalFundingPaidOut Decimal `json:"total_funding_paid_out,omitempty"`
	// MarginMode is 0 for cross and 1 for isolated margin.
	MarginMode int `json:"margin_mode"`
	// AllocatedMargin is the isolated margin, in USDC.
	AllocatedMargin Decimal `json:"allocated_margin"`
	// TotalDiscount is the fee discount received.
	TotalDiscount Decimal `json:"total_discount"`
}

// PoolInfo is the pool part of a pool Account (Lighter's PublicPoolInfo).
type PoolInfo struct {
	// Status is the pool status code (PoolStatusActive is active); nil
	// when absent, which is not "active".
	Status *int `json:"status"`
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
	AnnualPercentageYield float64 `json:"annual_percentage_yield"`
	// SharpeRatio is the risk-adjusted return; nil when Lighter has none.
	SharpeRatio *float64 `json:"sharpe_ratio"`
	// DailyReturns is the daily return history, oldest first.
	DailyReturns []DailyReturn `json:"daily_returns"`
	// SharePrices is the share price history, oldest first.
	SharePrices []SharePrice `json:"share_prices"`
	// Strategies are the pool's strategies.
	Strategies []Strategy `json:"strategies"`
}

// Active reports whether the pool is known to be active: false when its
// status is absent.
func (p PoolInfo) Active() bool { return p.Status != nil && *p.Status == PoolStatusActive }

// Strategy is one strategy of a pool.
type Strategy struct {
	// Collateral is the strategy's collateral, in USDC.
	Collateral Decimal `json:"collateral"`
}

// PendingUnlock is a staked amount waiting to unlock.
type PendingUnlock struct {
	// UnlockTimestamp is when it unlocks.
	UnlockTimestamp int64 `json:"unlock_timestamp"`
	// AssetIndex is the asset's index.
	AssetIndex int `json:"asset_index"`
	// Amount is the amount.
	Amount Decimal `json:"amount"`
}

// ApprovedIntegrator is an integrator an account approved, with its fee
// caps.
type ApprovedIntegrator struct {
	// AccountIndex is the integrator's account.
	AccountIndex int64 `json:"account_index"`
	// Name is the integrator's name.
	Name string `json:"name"`
	// MaxPerpsTakerFee, MaxPerpsMakerFee, MaxSpotTakerFee and
	// MaxSpotMakerFee are the fee caps.
	MaxPerpsTakerFee int `json:"max_perps_taker_fee"`
	MaxPerpsMakerFee int `json:"max_perps_maker_fee"`
	MaxSpotTakerFee  int `json:"max_spot_taker_fee"`
	MaxSpotMakerFee  int `json:"max_spot_maker_fee"`
	// ApprovalExpiry is when the approval ends.
	ApprovalExpiry int64 `json:"approval_expiry"`
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

// PnL is the answer of /api/v1/pnl: an account's PnL chart (Lighter's
// AccountPnL).
type PnL struct {
	ResultCode
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
	// TradePnL and TradeSpotPnL are the perps and spot trading PnL.
	TradePnL     float64 `json:"trade_pnl"`
	TradeSpotPnL float64 `json:"trade_spot_pnl"`
	// Inflow and Outflow are the deposits and transfers in and out.
	Inflow  float64 `json:"inflow"`
	Outflow float64 `json:"outflow"`
	// SpotInflow and SpotOutflow are the spot transfers in and out.
	SpotInflow  float64 `json:"spot_inflow"`
	SpotOutflow float64 `json:"spot_outflow"`
	// PoolPnL is the PnL of the account's pool shares.
	PoolPnL float64 `json:"pool_pnl"`
	// PoolInflow and PoolOutflow are the amounts put into and taken out
	// of pools.
	PoolInflow  float64 `json:"pool_inflow"`
	PoolOutflow float64 `json:"pool_outflow"`
	// StakingPnL, StakingInflow and StakingOutflow are the same for
	// staking.
	StakingPnL     float64 `json:"staking_pnl"`
	StakingInflow  float64 `json:"staking_inflow"`
	StakingOutflow float64 `json:"staking_outflow"`
	// PoolTotalShares is, for a pool account, its total shares at
	// Timestamp: the original multiplies it by the share price for a
	// historical TVL.
	PoolTotalShares float64 `json:"pool_total_shares"`
	// StakedLIT is the LIT staked.
	StakedLIT float64 `json:"staked_lit"`
}

// OrderBookList is the answer of /api/v1/orderBooks (Lighter's
// OrderBooks).
type OrderBookList struct {
	ResultCode
	// OrderBooks are the markets.
	OrderBooks []OrderBook `json:"order_books"`
}

// OrderBook is one market from /api/v1/orderBooks.
type OrderBook struct {
	// Symbol is the market's symbol ("ETH", "ETH/USDC").
	Symbol string `json:"symbol"`
	// MarketID is the market's index.
	MarketID int `json:"market_id"`
	// MarketType is "perp" or "spot".
	MarketType string `json:"market_type"`
	// BaseAssetID and QuoteAssetID are the market's assets.
	BaseAssetID  int `json:"base_asset_id"`
	QuoteAssetID int `json:"quote_asset_id"`
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
	// OrderQuoteLimit is the largest order in quote units.
	OrderQuoteLimit Decimal `json:"order_quote_limit"`
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
	ResultCode
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

package lighter

// Fundings is the answer of /api/v1/fundings: a market's funding history.
type Fundings struct {
	ResultCode
	// Resolution is the step between entries ("1h" or "1d").
	Resolution string `json:"resolution"`
	// Fundings are the entries, oldest first.
	Fundings []Funding `json:"fundings"`
}

// Funding is one funding entry of a market.
type Funding struct {
	// Timestamp is the funding time.
	Timestamp int64 `json:"timestamp"`
	// Value is the funding paid per unit of position.
	Value Decimal `json:"value"`
	// Rate is the funding rate.
	Rate Decimal `json:"rate"`
	// Direction is "long" (longs pay) or "short".
	Direction string `json:"direction"`
}

// FundingRates is the answer of /api/v1/funding-rates: the current funding
// rate of each market, on Lighter and on other exchanges.
type FundingRates struct {
	ResultCode
	// FundingRates are the rates.
	FundingRates []FundingRate `json:"funding_rates"`
}

// FundingRate is one market's current funding rate on one exchange.
type FundingRate struct {
	// MarketID is Lighter's market index.
	MarketID int `json:"market_id"`
	// Exchange is "binance", "bybit", "hyperliquid" or "lighter".
	Exchange string `json:"exchange"`
	// Symbol is the market's symbol.
	Symbol string `json:"symbol"`
	// Rate is the funding rate.
	Rate float64 `json:"rate"`
}

// Trades is the answer of /api/v1/trades and /api/v1/recentTrades.
type Trades struct {
	ResultCode
	// NextCursor is the cursor of the next page of /api/v1/trades; empty
	// on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Trades are the page's trades.
	Trades []Trade `json:"trades"`
}

// Trade is one trade.
type Trade struct {
	// TradeID is the trade's identifier.
	TradeID int64 `json:"trade_id"`
	// TxHash is the hash of the transaction holding the trade.
	TxHash string `json:"tx_hash"`
	// Type is "trade", "liquidation", "deleverage" or
	// "market-settlement".
	Type string `json:"type"`
	// MarketID is the market's index.
	MarketID int `json:"market_id"`
	// Size is the size in base units, Price the price, USDAmount the
	// notional.
	Size      Decimal `json:"size"`
	Price     Decimal `json:"price"`
	USDAmount Decimal `json:"usd_amount"`
	// AskID and BidID are the orders' indexes, AskClientID and
	// BidClientID their client indexes.
	AskID       int64 `json:"ask_id"`
	BidID       int64 `json:"bid_id"`
	AskClientID int64 `json:"ask_client_id"`
	BidClientID int64 `json:"bid_client_id"`
	// AskAccountID and BidAccountID are the two accounts.
	AskAccountID int64 `json:"ask_account_id"`
	BidAccountID int64 `json:"bid_account_id"`
	// IsMakerAsk reports whether the maker was the ask.
	IsMakerAsk bool `json:"is_maker_ask"`
	// BlockHeight is the block holding the trade.
	BlockHeight int64 `json:"block_height"`
	// Timestamp is the trade time.
	Timestamp int64 `json:"timestamp"`
	// TakerFee and the Taker* fields are the taker's fee and position
	// before the trade.
	TakerFee                         int     `json:"taker_fee"`
	TakerPositionSizeBefore          Decimal `json:"taker_position_size_before"`
	TakerEntryQuoteBefore            Decimal `json:"taker_entry_quote_before"`
	TakerInitialMarginFractionBefore int     `json:"taker_initial_margin_fraction_before"`
	TakerPositionSignChanged         bool    `json:"taker_position_sign_changed"`
	// MakerFee and the Maker* fields are the same for the maker.
	MakerFee                         int     `json:"maker_fee"`
	MakerPositionSizeBefore          Decimal `json:"maker_position_size_before"`
	MakerEntryQuoteBefore            Decimal `json:"maker_entry_quote_before"`
	MakerInitialMarginFractionBefore int     `json:"maker_initial_margin_fraction_before"`
	MakerPositionSignChanged         bool    `json:"maker_position_sign_changed"`
	// TransactionTime is the transaction time in microseconds.
	TransactionTime int64 `json:"transaction_time"`
	// AskAccountPnL and BidAccountPnL are the two accounts' PnL.
	AskAccountPnL Decimal `json:"ask_account_pnl"`
	BidAccountPnL Decimal `json:"bid_account_pnl"`
}

// OrderBookDetails is the answer of /api/v1/orderBookDetails: every
// market with its day's statistics.
type OrderBookDetails struct {
	ResultCode
	// OrderBookDetails are the perpetual markets.
	OrderBookDetails []PerpsOrderBookDetail `json:"order_book_details"`
	// SpotOrderBookDetails are the spot markets.
	SpotOrderBookDetails []OrderBookDetail `json:"spot_order_book_details"`
}

// OrderBookDetail is a market with its day's statistics (Lighter's
// SpotOrderBookDetail; PerpsOrderBookDetail adds the perps' fields).
type OrderBookDetail struct {
	OrderBook
	// SizeDecimals and PriceDecimals are the decimals of sizes and prices.
	SizeDecimals  int `json:"size_decimals"`
	PriceDecimals int `json:"price_decimals"`
	// LastTradePrice is the last trade's price.
	LastTradePrice float64 `json:"last_trade_price"`
	// DailyTradesCount, DailyBaseTokenVolume and DailyQuoteTokenVolume
	// are the last day's trades and volumes.
	DailyTradesCount      int64   `json:"daily_trades_count"`
	DailyBaseTokenVolume  float64 `json:"daily_base_token_volume"`
	DailyQuoteTokenVolume float64 `json:"daily_quote_token_volume"`
	// DailyPriceLow, DailyPriceHigh and DailyPriceChange are the last
	// day's prices.
	DailyPriceLow    float64 `json:"daily_price_low"`
	DailyPriceHigh   float64 `json:"daily_price_high"`
	DailyPriceChange float64 `json:"daily_price_change"`
	// DailyChart is the last day's prices by timestamp (as text).
	DailyChart map[string]float64 `json:"daily_chart"`
}

// PerpsOrderBookDetail is a perpetual market with its day's statistics.
type PerpsOrderBookDetail struct {
	OrderBookDetail
	// QuoteMultiplier scales quote amounts.
	QuoteMultiplier int64 `json:"quote_multiplier"`
	// DefaultInitialMarginFraction, MinInitialMarginFraction,
	// MaintenanceMarginFraction and CloseoutMarginFraction are in basis
	// points.
	DefaultInitialMarginFraction int `json:"default_initial_margin_fraction"`
	MinInitialMarginFraction     int `json:"min_initial_margin_fraction"`
	MaintenanceMarginFraction    int `json:"maintenance_margin_fraction"`
	CloseoutMarginFraction       int `json:"closeout_margin_fraction"`
	// OpenInterest is the open interest in base units.
	OpenInterest float64 `json:"open_interest"`
	// MarketConfig is the market's configuration; nil when absent.
	MarketConfig *MarketConfig `json:"market_config"`
	// StrategyIndex is the market's strategy index.
	StrategyIndex int `json:"strategy_index"`
}

// MarketConfig is a perpetual market's configuration.
type MarketConfig struct {
	// MarketMarginMode is the margin mode code.
	MarketMarginMode int `json:"market_margin_mode"`
	// InsuranceFundAccountIndex is the market's insurance fund account.
	InsuranceFundAccountIndex int64 `json:"insurance_fund_account_index"`
	// LiquidationMode is the liquidation mode code.
	LiquidationMode int `json:"liquidation_mode"`
	// ForceReduceOnly reports whether only reducing orders are allowed.
	ForceReduceOnly bool `json:"force_reduce_only"`
	// TradingHours are the market's trading hours.
	TradingHours string `json:"trading_hours"`
	// FundingFeeDiscountsEnabled reports whether funding discounts apply.
	FundingFeeDiscountsEnabled bool `json:"funding_fee_discounts_enabled"`
	// Hidden reports whether the market is hidden.
	Hidden bool `json:"hidden"`
}

// ExchangeStats is the answer of /api/v1/exchangeStats: the last day's
// statistics of every market.
type ExchangeStats struct {
	ResultCode
	// Total is the number of markets.
	Total int64 `json:"total"`
	// OrderBookStats are the markets' statistics.
	OrderBookStats []MarketStats `json:"order_book_stats"`
	// DailyUSDVolume is the last day's volume, in USD.
	DailyUSDVolume float64 `json:"daily_usd_volume"`
	// DailyTradesCount is the last day's number of trades.
	DailyTradesCount int64 `json:"daily_trades_count"`
}

// MarketStats is one market's last-day statistics (Lighter's
// OrderBookStats).
type MarketStats struct {
	// Symbol is the market's symbol.
	Symbol string `json:"symbol"`
	// LastTradePrice is the last trade's price.
	LastTradePrice float64 `json:"last_trade_price"`
	// DailyTradesCount, DailyBaseTokenVolume and DailyQuoteTokenVolume
	// are the last day's trades and volumes.
	DailyTradesCount      int64   `json:"daily_trades_count"`
	DailyBaseTokenVolume  float64 `json:"daily_base_token_volume"`
	DailyQuoteTokenVolume float64 `json:"daily_quote_token_volume"`
	// DailyPriceChange is the last day's price change.
	DailyPriceChange float64 `json:"daily_price_change"`
}

// SubAccounts is the answer of /api/v1/accountsByL1Address: the accounts
// of one Ethereum address.
type SubAccounts struct {
	ResultCode
	// L1Address is the address asked about.
	L1Address string `json:"l1_address"`
	// SubAccounts are its accounts, the master account included.
	SubAccounts []AccountSummary `json:"sub_accounts"`
}

package lightertest

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FirstTradeID is the trade ID of the oldest generated trade; the next
// ones follow one by one, across every market.
const FirstTradeID int64 = 1000

// firstTradeMilli is the time of the oldest generated trade; each next
// one is 250 ms later.
const firstTradeMilli int64 = 1735689600000

// maxFundings bounds a fundings answer (the newest are kept).
const maxFundings = 1000

var (
	fundingResolutions = []string{"1h", "1d"}
	exchanges          = []string{"binance", "bybit", "hyperliquid", "lighter"}
	tradeTypes         = []string{"all", "trade", "liquidation", "deleverage", "market-settlement"}
)

// trade is one generated trade, j-th of all markets' trades.
type trade struct {
	j                       int64
	id, ts, block           int64
	market                  market
	kind                    string
	ask, bid                int64 // accounts
	askOrder, bidOrder      int64
	makerAsk                bool
	size, price, usd, pnlAB string
}

// tradeAt is the j-th generated trade (0 the oldest).
func (h *Handler) tradeAt(j int64) trade {
	m := markets[j%int64(len(markets))]
	r := mix(uint64(j) ^ 0x7ade)
	price := candlePrice(m, firstTradeMilli+j*250)
	size := math.Round((unit(r, 6)*2+0.01)*1e4) / 1e4
	kind := "trade"
	if j%50 == 49 {
		kind = "liquidation"
	}
	return trade{
		j: j, id: FirstTradeID + j, ts: firstTradeMilli + j*250, block: 500000 + j/2,
		market: m, kind: kind,
		ask: 1 + (j*7)%50, bid: 51 + (j*13)%50,
		askOrder: 10_000_000 + 2*j, bidOrder: 10_000_001 + 2*j,
		makerAsk: r%2 == 0,
		size:     strconv.FormatFloat(size, 'f', 4, 64),
		price:    strconv.FormatFloat(price, 'f', 2, 64),
		usd:      strconv.FormatFloat(math.Round(size*price*1e6)/1e6, 'f', 6, 64),
		pnlAB:    strconv.FormatFloat(math.Round((unit(r, 7)-0.5)*100*1e6)/1e6, 'f', 6, 64),
	}
}

// TradeCount returns the number of trades generated over every market.
func (h *Handler) TradeCount() int { return h.opts.Trades * len(markets) }

func (t trade) json() map[string]any {
	return map[string]any{
		"trade_id": t.id, "tx_hash": fmt.Sprintf("0x%064x", mix(uint64(t.id))), "type": t.kind,
		"market_id": t.market.id, "size": t.size, "price": t.price, "usd_amount": t.usd,
		"ask_id": t.askOrder, "bid_id": t.bidOrder, "ask_client_id": 0, "bid_client_id": 0,
		"ask_account_id": t.ask, "bid_account_id": t.bid, "is_maker_ask": t.makerAsk,
		"block_height": t.block, "timestamp": t.ts,
		"taker_fee": 0, "taker_position_size_before": "0.0000", "taker_entry_quote_before": "0.000000",
		"taker_initial_margin_fraction_before": 0, "taker_position_sign_changed": true,
		"maker_fee": 0, "maker_position_size_before": "0.0000", "maker_entry_quote_before": "0.000000",
		"maker_initial_margin_fraction_before": 0, "maker_position_sign_changed": true,
		"transaction_time": t.ts * 1000, "ask_account_pnl": t.pnlAB, "bid_account_pnl": "-" + strings.TrimPrefix(t.pnlAB, "-"),
	}
}

// marketByID returns the canned market with index id.
func marketByID(id int64) (market, bool) {
	i := slices.IndexFunc(markets, func(m market) bool { return int64(m.id) == id })
	if i < 0 {
		return market{}, false
	}
	return markets[i], true
}

func noMarket(w http.ResponseWriter, id int64) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": CodeInvalidParam, "message": fmt.Sprintf("invalid param: market_id %d does not exist", id)})
}

// recentTrades answers a market's latest "limit" trades, newest first.
func (h *Handler) recentTrades(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	id := p.int("market_id", true, 0, 0, 32767)
	limit := p.int("limit", true, 0, 1, 100)
	if p.bad(w) {
		return
	}
	if _, ok := marketByID(id); !ok {
		noMarket(w, id)
		return
	}
	var out []any
	for j := int64(h.TradeCount()) - 1; j >= 0 && int64(len(out)) < limit; j-- {
		if t := h.tradeAt(j); int64(t.market.id) == id {
			out = append(out, t.json())
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "trades": orEmpty(out)})
}

// tradeCursor is the opaque cursor of /api/v1/trades: the next page holds
// the trades older than the trade with this index.
func tradeCursor(j int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("before:" + strconv.FormatInt(j, 10)))
}

func parseTradeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "before:") {
		return 0, false
	}
	j, err := strconv.ParseInt(strings.TrimPrefix(string(b), "before:"), 10, 64)
	return j, err == nil && j >= 0
}

// trades answers one page of trades, newest first, filtered by market_id
// (255 for all), account_index (-1 for all), order_index, type, role (for
// an account) and from (trades whose sort_by value is at most from); its
// next_cursor, absent on the last page, asks for the next page.
func (h *Handler) trades(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	sortBy := p.oneOf("sort_by", true, "", "block_height", "timestamp", "trade_id")
	limit := p.int("limit", true, 0, 1, 100)
	id := p.int("market_id", false, 255, 0, 32767)
	account := p.int("account_index", false, -1, -1, math.MaxInt64)
	order := p.int("order_index", false, -1, 0, math.MaxInt64)
	p.oneOf("sort_dir", false, "desc", "desc")
	from := p.int("from", false, -1, -1, math.MaxInt64)
	p.int("ask_filter", false, -1, math.MinInt8, math.MaxInt8)
	role := p.oneOf("role", false, "all", "all", "maker", "taker")
	kind := p.oneOf("type", false, "all", tradeTypes...)
	p.bool("aggregate")
	before := int64(h.TradeCount())
	if c := q.Get("cursor"); c != "" {
		j, ok := parseTradeCursor(c)
		if !ok && p.err == "" {
			p.err = fmt.Sprintf("cursor=%q: not a cursor of this server", c)
		}
		before = min(before, j)
	}
	if p.bad(w) {
		return
	}
	if id != 255 {
		if _, ok := marketByID(id); !ok {
			noMarket(w, id)
			return
		}
	}
	match := func(t trade) bool {
		maker := t.bid
		if t.makerAsk {
			maker = t.ask
		}
		taker := t.ask + t.bid - maker
		key := map[string]int64{"block_height": t.block, "timestamp": t.ts, "trade_id": t.id}[sortBy]
		switch {
		case id != 255 && int64(t.market.id) != id,
			account >= 0 && t.ask != account && t.bid != account,
			account >= 0 && role == "maker" && maker != account,
			account >= 0 && role == "taker" && taker != account,
			order >= 0 && t.askOrder != order && t.bidOrder != order,
			kind != "all" && t.kind != kind,
			from >= 0 && key > from:
			return false
		}
		return true
	}
	var out []any
	next := ""
	for j := before - 1; j >= 0; j-- {
		t := h.tradeAt(j)
		if !match(t) {
			continue
		}
		if int64(len(out)) == limit {
			next = tradeCursor(j + 1)
			break
		}
		out = append(out, t.json())
	}
	answer := map[string]any{"code": 200, "trades": orEmpty(out)}
	if next != "" {
		answer["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, answer)
}

// fundings answers one funding entry per resolution step in
// [start_timestamp, min(end_timestamp, now)], Unix seconds, the last
// count_back (if > 0) and at most 1000, for a perpetual market.
func (h *Handler) fundings(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	id := p.int("market_id", true, 0, 0, 32767)
	res, start, end, countBack := p.series(fundingResolutions)
	if p.bad(w) {
		return
	}
	m, ok := marketByID(id)
	if !ok || m.kind != "perp" {
		noMarket(w, id)
		return
	}
	step := int64(resolutionOf(res) / time.Second)
	end = min(end, h.opts.Now().Unix())
	var out []any
	for _, ts := range steps(start, end, step, countBack, maxFundings) {
		rate := math.Round((unit(mix(uint64(ts)^uint64(m.id)), 8)-0.4)*0.0002*1e8) / 1e8
		dir := "long"
		if rate < 0 {
			dir = "short"
		}
		out = append(out, map[string]any{
			"timestamp": ts,
			"value":     strconv.FormatFloat(math.Abs(rate)*m.price, 'f', 6, 64),
			"rate":      strconv.FormatFloat(math.Abs(rate), 'f', 8, 64),
			"direction": dir,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "resolution": res, "fundings": orEmpty(out)})
}

// fundingRates answers each perpetual market's rate on each exchange.
func (h *Handler) fundingRates(w http.ResponseWriter, _ url.Values) {
	var out []any
	for _, m := range markets {
		if m.kind != "perp" {
			continue
		}
		for i, ex := range exchanges {
			out = append(out, map[string]any{
				"market_id": m.id, "exchange": ex, "symbol": m.symbol,
				"rate": math.Round((unit(uint64(m.id), uint64(i))-0.4)*0.0002*1e8) / 1e8,
			})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "funding_rates": orEmpty(out)})
}

// book is the orderBooks entry of market m.
func book(m market) map[string]any {
	return map[string]any{
		"symbol": m.symbol, "market_id": m.id, "market_type": m.kind,
		"base_asset_id": m.id + 1, "quote_asset_id": 3, "status": "active",
		"taker_fee": "0.0000", "maker_fee": "0.0000", "liquidation_fee": "1.0000",
		"min_base_amount": m.minBase, "min_quote_amount": m.minQuote,
		"supported_size_decimals": m.sizeDec, "supported_price_decimals": m.priceDec,
		"supported_quote_decimals": m.quoteD, "order_quote_limit": "281474976.710655",
	}
}

// dailyStats are market m's canned figures over the last day.
func dailyStats(m market) (trades int64, base, quote, low, high, change float64) {
	r := mix(uint64(m.id) ^ 0xda11)
	trades = 1000 + int64(r%9000)
	base = math.Round(unit(r, 9)*10000*1e4) / 1e4
	quote = round2(base * m.price)
	return trades, base, quote, round2(m.price * 0.97), round2(m.price * 1.02), round2((unit(r, 10) - 0.5) * 6)
}

// orderBookDetails answers the markets with their day's statistics, the
// perpetual ones in order_book_details, the spot ones in
// spot_order_book_details, filtered by market_id (255 for all) and
// filter.
func (h *Handler) orderBookDetails(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	id := p.int("market_id", false, 255, 0, 32767)
	filter := p.oneOf("filter", false, "all", "all", "spot", "perp")
	if p.bad(w) {
		return
	}
	perps, spots := []any{}, []any{}
	now := h.opts.Now().Unix() / 3600 * 3600
	for _, m := range markets {
		if (id != 255 && int64(m.id) != id) || (filter != "all" && filter != m.kind) {
			continue
		}
		d := book(m)
		n, base, quote, low, high, change := dailyStats(m)
		chart := map[string]any{}
		for k := int64(0); k < 24; k += 6 {
			ts := now - k*3600
			chart[strconv.FormatInt(ts, 10)] = candlePrice(m, ts*1000)
		}
		for k, v := range map[string]any{
			"size_decimals": m.sizeDec, "price_decimals": m.priceDec,
			"last_trade_price": m.price, "daily_trades_count": n,
			"daily_base_token_volume": base, "daily_quote_token_volume": quote,
			"daily_price_low": low, "daily_price_high": high, "daily_price_change": change,
			"daily_chart": chart,
		} {
			d[k] = v
		}
		if m.kind == "spot" {
			spots = append(spots, d)
			continue
		}
		d["quote_multiplier"] = 1
		d["default_initial_margin_fraction"] = 500
		d["min_initial_margin_fraction"] = 200
		d["maintenance_margin_fraction"] = 120
		d["closeout_margin_fraction"] = 80
		d["open_interest"] = round2(base * 3)
		d["strategy_index"] = 0
		d["market_config"] = map[string]any{
			"market_margin_mode": 0, "insurance_fund_account_index": DefaultLLPIndex,
			"liquidation_mode": 0, "force_reduce_only": false, "trading_hours": "",
			"funding_fee_discounts_enabled": false, "hidden": false,
		}
		perps = append(perps, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "order_book_details": perps, "spot_order_book_details": spots})
}

// exchangeStats answers every market's last-day figures and their totals.
func (h *Handler) exchangeStats(w http.ResponseWriter, _ url.Values) {
	var stats []any
	var usd float64
	var count int64
	for _, m := range markets {
		n, base, quote, _, _, change := dailyStats(m)
		usd += quote
		count += n
		stats = append(stats, map[string]any{
			"symbol": m.symbol, "last_trade_price": m.price, "daily_trades_count": n,
			"daily_base_token_volume": base, "daily_quote_token_volume": quote, "daily_price_change": change,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"code": 200, "total": len(stats), "order_book_stats": stats,
		"daily_usd_volume": round2(usd), "daily_trades_count": count,
	})
}

// L1MasterIndex returns the master account index the fake gives the
// Ethereum address addr (any case); its sub-account is the next index.
func L1MasterIndex(addr string) int64 {
	return 1 + int64(mix(uint64(len(addr))^hash(strings.ToLower(addr)))%1_000_000)*2
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// accountsByL1Address answers the master account and one sub-account of
// any well-formed address (0x and 40 hex digits).
func (h *Handler) accountsByL1Address(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	addr := q.Get("l1_address")
	switch {
	case addr == "":
		p.err = "l1_address is required"
	case !isAddress(addr):
		p.err = fmt.Sprintf("l1_address=%q: want 0x and 40 hex digits", addr)
	}
	if p.bad(w) {
		return
	}
	master := L1MasterIndex(addr)
	var subs []any
	for i, typ := range []int{0, 1} {
		subs = append(subs, map[string]any{
			"code": 0, "account_type": typ, "index": master + int64(i), "l1_address": addr,
			"cancel_all_time": 0, "total_order_count": 3, "total_isolated_order_count": 0,
			"pending_order_count": 0, "available_balance": "7000.000000", "status": 1,
			"collateral": "10000.000000", "transaction_time": 1735689600000000, "account_trading_mode": 0,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "l1_address": addr, "sub_accounts": subs})
}

func isAddress(s string) bool {
	if len(s) != 42 || !strings.HasPrefix(strings.ToLower(s), "0x") {
		return false
	}
	for _, c := range s[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

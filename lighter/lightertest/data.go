package lightertest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// Lighter's error codes the fake answers with, in a 400's JSON body.
const (
	CodeInvalidParam    = 20001
	CodeAccountNotFound = 21100
)

// maxTimestamp is the largest timestamp Lighter accepts.
const maxTimestamp = lighter.MaxTimestamp

// maxPnLEntries bounds a pnl answer (the newest are kept).
const maxPnLEntries = 5000

// maxCandles is the most candles Lighter answers per call.
const maxCandles = 500

var (
	pnlResolutions    = []string{"1m", "5m", "15m", "1h", "4h", "1d"}
	candleResolutions = []string{"1m", "5m", "15m", "30m", "1h", "4h", "12h", "1d", "1w"}
)

// market is one canned order book.
type market struct {
	id                        int
	symbol, kind              string
	price                     float64
	minBase, minQuote         string
	sizeDec, priceDec, quoteD int
}

var markets = []market{
	{0, "ETH", "perp", 3000, "0.0050", "10.000000", 4, 2, 6},
	{1, "BTC", "perp", 60000, "0.00020", "10.000000", 5, 1, 6},
	{2, "SOL", "perp", 150, "0.050", "10.000000", 3, 3, 6},
	{2048, "ETH/USDC", "spot", 3000, "0.0050", "10.000000", 4, 2, 6},
}

func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request) {
	route := map[string]func(http.ResponseWriter, url.Values){
		lighter.PathSystemConfig:        h.systemConfig,
		lighter.PathPublicPoolsMetadata: h.publicPoolsMetadata,
		lighter.PathAccount:             h.account,
		lighter.PathPnL:                 h.pnl,
		lighter.PathOrderBooks:          h.orderBooks,
		lighter.PathCandles:             h.candles,
		lighter.PathFundings:            h.fundings,
		lighter.PathFundingRates:        h.fundingRates,
		lighter.PathRecentTrades:        h.recentTrades,
		lighter.PathTrades:              h.trades,
		lighter.PathOrderBookDetails:    h.orderBookDetails,
		lighter.PathExchangeStats:       h.exchangeStats,
		lighter.PathAccountsByL1Address: h.accountsByL1Address,
	}[r.URL.Path]
	switch {
	case route == nil:
		writeJSON(w, http.StatusNotFound, map[string]any{"code": http.StatusNotFound, "message": "lightertest: no such endpoint " + r.URL.Path})
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed)
	default:
		route(w, r.URL.Query())
	}
}

func (h *Handler) systemConfig(w http.ResponseWriter, _ url.Values) {
	writeJSON(w, http.StatusOK, map[string]any{
		"code":                             200,
		"liquidity_pool_index":             h.llp,
		"staking_pool_index":               DefaultLLPIndex - 1,
		"funding_fee_rebate_account_index": DefaultLLPIndex - 2,
		"liquidity_pool_cooldown_period":   300000,
		"staking_pool_lockup_period":       604800000,
		"max_integrator_perps_maker_fee":   100,
		"max_integrator_perps_taker_fee":   100,
		"max_integrator_spot_maker_fee":    100,
		"max_integrator_spot_taker_fee":    100,
	})
}

// publicPoolsMetadata lists the pools whose index is below "index" (it is
// exclusive, as Lighter's is: its documentation fetches the LLP,
// 281474976710654, with index=281474976710655&limit=1), highest first, at
// most "limit" (1 to 100) of them.
func (h *Handler) publicPoolsMetadata(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	filter := p.oneOf("filter", false, "all", "all", "user", "protocol", "account_index", "stake")
	index := p.int("index", true, 0, 0, math.MaxInt64)
	limit := p.int("limit", true, 0, 1, 100)
	if p.bad(w) {
		return
	}
	var pools []any
	if filter == "all" || filter == "user" || filter == "protocol" {
		for _, idx := range h.pools {
			if len(pools) == int(limit) {
				break
			}
			if idx < index {
				pools = append(pools, h.poolMetadata(idx))
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "public_pools": orEmpty(pools)})
}

// Account types, as Lighter numbers them.
const (
	accountPublicPool    = 2
	accountInsuranceFund = 3 // the LLP
)

// accountType is a pool's account type: the LLP shows as the insurance
// fund, every other pool as a public pool.
func (h *Handler) accountType(idx int64) int {
	if h.llp != 0 && idx == h.llp {
		return accountInsuranceFund
	}
	return accountPublicPool
}

func (h *Handler) isPool(idx int64) bool {
	return slices.Contains(h.pools, idx) || (idx != 0 && idx == h.llp)
}

// pool is the canned figures of one pool, derived from its index.
type pool struct {
	name, l1, fee, tvl    string
	apy, sharpe           float64
	shares, master, since int64
}

var poolNames = []string{"ETH 3x long", "Delta neutral", "BTC basis", "SOL momentum", "Market maker", "Funding farm"}

func (h *Handler) pool(idx int64) pool {
	if h.llp != 0 && idx == h.llp {
		return pool{name: "LLP", fee: "0.00", tvl: "512345678.123456", apy: 21.5, sharpe: 3.2, shares: 400_000_000_000, since: 1735689600}
	}
	r := mix(uint64(idx))
	tvl := math.Round(unit(r, 1)*2_000_000*1e6) / 1e6
	return pool{
		name:   fmt.Sprintf("%s #%d", poolNames[r%uint64(len(poolNames))], idx),
		l1:     fmt.Sprintf("0x%040x", mix(r)),
		fee:    fmt.Sprintf("%d.00", r%21),
		tvl:    strconv.FormatFloat(tvl, 'f', 6, 64),
		apy:    math.Round((unit(r, 2)*60-10)*1e4) / 1e4,
		sharpe: math.Round((unit(r, 3)*4-1)*1e4) / 1e4,
		shares: int64(tvl * 1000),
		master: int64(mix(r) % 1_000_000),
		since:  1735689600 + int64(r%365)*86400,
	}
}

func (h *Handler) poolMetadata(idx int64) map[string]any {
	p := h.pool(idx)
	return map[string]any{
		"code":                    0,
		"account_index":           idx,
		"account_type":            h.accountType(idx),
		"name":                    p.name,
		"l1_address":              p.l1,
		"annual_percentage_yield": p.apy,
		"sharpe_ratio":            p.sharpe,
		"status":                  0,
		"operator_fee":            p.fee,
		"total_asset_value":       p.tvl,
		"total_perps_value":       p.tvl,
		"total_spot_value":        "0.000000",
		"total_shares":            p.shares,
		"master_account_index":    p.master,
		"created_at":              p.since,
		"assets":                  []any{},
	}
}

// account answers by=index&value=N: a pool account (with pool_info) for a
// pool or the LLP, an ordinary trading account for any other index up to
// MaxAccountIndex, 400 with CodeAccountNotFound above it.
func (h *Handler) account(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	p.oneOf("by", true, "", "index")
	idx := p.int("value", true, 0, 0, math.MaxInt64)
	if p.bad(w) {
		return
	}
	if idx > MaxAccountIndex {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": CodeAccountNotFound, "message": "account not found"})
		return
	}
	a := map[string]any{
		"code":                       0,
		"account_index":              idx,
		"index":                      idx,
		"account_type":               0,
		"l1_address":                 fmt.Sprintf("0x%040x", mix(uint64(idx)^0xacc)),
		"name":                       "",
		"description":                "",
		"status":                     1,
		"collateral":                 "10000.000000",
		"available_balance":          "7000.000000",
		"total_asset_value":          "10125.500000",
		"cross_asset_value":          "10125.500000",
		"created_at":                 1735689600,
		"cancel_all_time":            0,
		"total_order_count":          12,
		"total_isolated_order_count": 0,
		"pending_order_count":        0,
		"transaction_time":           1735689600000000,
		"account_trading_mode":       0,
		"can_invite":                 true,
		"referral_points_percentage": "0.00",
		"pool_info":                  nil,
		"pending_unlocks":            []any{},
		"approved_integrators":       []any{},
		"positions": []any{map[string]any{
			"market_id": 0, "symbol": "ETH", "sign": 1, "position": "10.0000",
			"avg_entry_price": "2987.45", "position_value": "30000.000000",
			"unrealized_pnl": "125.500000", "realized_pnl": "0.000000",
			"liquidation_price": "2100.00", "margin_mode": 0, "allocated_margin": "0.000000",
			"initial_margin_fraction": "10.00", "open_order_count": 0, "pending_order_count": 0,
			"position_tied_order_count": 0, "total_funding_paid_out": "1.250000", "total_discount": "0.000000",
		}},
		"assets": []any{},
		"shares": []any{},
	}
	if h.isPool(idx) {
		pl := h.pool(idx)
		a["account_type"] = h.accountType(idx)
		a["name"] = pl.name
		a["description"] = "lightertest pool " + pl.name
		a["total_asset_value"] = pl.tvl
		a["cross_asset_value"] = pl.tvl
		a["l1_address"] = pl.l1
		a["created_at"] = pl.since
		a["pool_info"] = h.poolInfo(idx, pl)
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "total": 1, "accounts": []any{a}})
}

// poolInfo has 30 days of share prices and daily returns, the last at
// today's midnight UTC.
func (h *Handler) poolInfo(idx int64, pl pool) map[string]any {
	const days = 30
	today := h.opts.Now().UTC().Truncate(24 * time.Hour).Unix()
	prices := make([]any, 0, days)
	returns := make([]any, 0, days)
	price := 1.0
	for d := range days {
		ts := today - int64(days-1-d)*86400
		ret := 0.0
		if d > 0 {
			ret = math.Round((unit(mix(uint64(idx)+uint64(ts)), 4)-0.45)*0.02*1e6) / 1e6
		}
		price = math.Round(price*(1+ret)*1e6) / 1e6
		prices = append(prices, map[string]any{"timestamp": ts, "share_price": price})
		returns = append(returns, map[string]any{"timestamp": ts, "daily_return": ret})
	}
	return map[string]any{
		"status":                  0,
		"operator_fee":            pl.fee,
		"min_operator_share_rate": "5.00",
		"total_shares":            pl.shares,
		"operator_shares":         pl.shares / 10,
		"annual_percentage_yield": pl.apy,
		"sharpe_ratio":            pl.sharpe,
		"share_prices":            prices,
		"daily_returns":           returns,
		"strategies":              []any{},
	}
}

// pnl answers a chart with one entry per resolution step in
// [start_timestamp, min(end_timestamp, now)], Unix seconds, the last
// count_back (if > 0) and at most 5000.
func (h *Handler) pnl(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	p.oneOf("by", true, "", "index")
	idx := p.int("value", true, 0, 0, MaxAccountIndex)
	res, start, end, countBack := p.series(pnlResolutions)
	p.bool("ignore_transfers")
	if p.bad(w) {
		return
	}
	step := int64(resolutionOf(res) / time.Second)
	end = min(end, h.opts.Now().Unix())
	shares := 0.0
	if h.isPool(idx) {
		shares = float64(h.pool(idx).shares)
	}
	var entries []any
	for _, ts := range steps(start, end, step, countBack, maxPnLEntries) {
		k := float64((ts - start) / step)
		entries = append(entries, map[string]any{
			"timestamp":         ts,
			"trade_pnl":         math.Round(k*12.5*1e6) / 1e6,
			"trade_spot_pnl":    0.0,
			"inflow":            10000.0,
			"outflow":           0.0,
			"spot_inflow":       0.0,
			"spot_outflow":      0.0,
			"pool_pnl":          0.0,
			"pool_inflow":       0.0,
			"pool_outflow":      0.0,
			"staking_pnl":       0.0,
			"staking_inflow":    0.0,
			"staking_outflow":   0.0,
			"pool_total_shares": shares,
			"staked_lit":        0.0,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "resolution": res, "pnl": orEmpty(entries)})
}

// orderBooks answers the canned markets, filtered by market_id (255 for
// all) and filter (all, perp, spot).
func (h *Handler) orderBooks(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	id := p.int("market_id", false, 255, 0, 32767)
	filter := p.oneOf("filter", false, "all", "all", "perp", "spot")
	if p.bad(w) {
		return
	}
	var books []any
	for _, m := range markets {
		if (id != 255 && int64(m.id) != id) || (filter != "all" && filter != m.kind) {
			continue
		}
		books = append(books, book(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "order_books": orEmpty(books)})
}

// candles answers one candle per resolution step in [start_timestamp,
// min(end_timestamp, now)], Unix milliseconds, the last count_back (if >
// 0) and at most 500, in Lighter's abbreviated form.
func (h *Handler) candles(w http.ResponseWriter, q url.Values) {
	p := params{q: q}
	id := p.int("market_id", true, 0, 0, 32767)
	res, start, end, countBack := p.series(candleResolutions)
	toEnd := p.bool("set_timestamp_to_end")
	if p.bad(w) {
		return
	}
	m, ok := marketByID(id)
	if !ok {
		noMarket(w, id)
		return
	}
	step := resolutionOf(res).Milliseconds()
	end = min(end, h.opts.Now().UnixMilli())
	var cs []any
	for _, ts := range steps(start, end, step, countBack, maxCandles) {
		open, cl := candlePrice(m, ts), candlePrice(m, ts+step)
		vol := math.Round(unit(mix(uint64(ts)^uint64(m.id)), 5)*100*1e4) / 1e4
		stamp := ts
		if toEnd {
			stamp = ts + step - 1
		}
		cs = append(cs, map[string]any{
			"t": stamp, "o": open, "h": round2(max(open, cl) * 1.001), "l": round2(min(open, cl) * 0.999),
			"c": cl, "v": vol, "V": round2(vol * (open + cl) / 2), "i": 779870452 + ts/1000,
			"O": open, "H": round2(max(open, cl) * 1.001), "L": round2(min(open, cl) * 0.999), "C": cl,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "r": res, "c": orEmpty(cs)})
}

func candlePrice(m market, ms int64) float64 {
	return round2(m.price * (1 + 0.05*math.Sin(float64(ms)/float64(6*time.Hour/time.Millisecond))))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// steps returns the multiples of step in [start, end], the last countBack
// of them (all when 0), at most limit.
func steps(start, end, step, countBack int64, limit int) []int64 {
	if end < start {
		return nil
	}
	first := (start + step - 1) / step * step
	n := int64(0)
	if end >= first {
		n = (end-first)/step + 1
	}
	keep := int64(limit)
	if countBack > 0 {
		keep = min(keep, countBack)
	}
	skip := max(0, n-keep)
	out := make([]int64, 0, n-skip)
	for k := skip; k < n; k++ {
		out = append(out, first+k*step)
	}
	return out
}

func resolutionOf(res string) time.Duration {
	switch res {
	case "1d":
		return 24 * time.Hour
	case "1w":
		return 7 * 24 * time.Hour
	}
	d, _ := time.ParseDuration(res) // 1m, 5m, 15m, 30m, 1h, 4h, 12h
	return d
}

// params reads query parameters, keeping the first problem.
type params struct {
	q   url.Values
	err string
}

func (p *params) int(name string, required bool, def, lo, hi int64) int64 {
	v := p.q.Get(name)
	if v == "" {
		if required && p.err == "" {
			p.err = name + " is required"
		}
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if (err != nil || n < lo || n > hi) && p.err == "" {
		p.err = fmt.Sprintf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n
}

func (p *params) oneOf(name string, required bool, def string, allowed ...string) string {
	v := p.q.Get(name)
	if v == "" {
		if required && p.err == "" {
			p.err = name + " is required"
		}
		return def
	}
	if !slices.Contains(allowed, v) && p.err == "" {
		p.err = fmt.Sprintf("%s=%q: want one of %v", name, v, allowed)
	}
	return v
}

// series reads the window a chart endpoint takes: resolution (one of
// resolutions), start_timestamp, end_timestamp and count_back, all
// required, in that order.
func (p *params) series(resolutions []string) (res string, start, end, countBack int64) {
	res = p.oneOf("resolution", true, "", resolutions...)
	start = p.int("start_timestamp", true, 0, 0, maxTimestamp)
	end = p.int("end_timestamp", true, 0, 0, maxTimestamp)
	countBack = p.int("count_back", true, 0, 0, math.MaxInt64)
	return res, start, end, countBack
}

func (p *params) bool(name string) bool {
	v := p.q.Get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil && p.err == "" {
		p.err = fmt.Sprintf("%s=%q: want true or false", name, v)
	}
	return b
}

// bad answers 400 with CodeInvalidParam when a parameter was wrong.
func (p *params) bad(w http.ResponseWriter) bool {
	if p.err == "" {
		return false
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": CodeInvalidParam, "message": "invalid param: " + p.err})
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, status int) {
	writeJSON(w, status, map[string]any{"code": status, "message": http.StatusText(status)})
}

// orEmpty makes a nil list encode as [] rather than null, as Lighter
// sends it.
func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// mix is splitmix64: deterministic, well-spread figures from an index.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit is a figure in [0, 1) from r, different for each salt.
func unit(r uint64, salt uint64) float64 {
	return float64(mix(r+salt)>>11) / (1 << 53)
}

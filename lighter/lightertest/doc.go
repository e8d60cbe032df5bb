// Package lightertest is a fake Lighter API server: canned, realistic JSON
// shaped as Lighter's OpenAPI description says, for the endpoints package
// lighter calls (systemConfig, publicPoolsMetadata, account, pnl,
// orderBooks, candles, fundings, funding-rates, recentTrades, trades,
// orderBookDetails, exchangeStats, accountsByL1Address), behind a
// rolling-window rate limit that answers 429 with Retry-After as Lighter
// does, with counters and failure injection for tests. It pages as Lighter
// does: publicPoolsMetadata's index is exclusive, trades pages by an
// opaque cursor; a parameter out of the description's bounds is answered
// 400 with {"code": 20001, "message": "invalid param: ..."}.
//
// It is ordinary (non-test) code, so that tests, integration tests and the
// command line's offline demo can all use it. It does not import package
// lighter: pass lighter.EndpointWeight as Options.Weight for Lighter's
// weighted (premium) limits.
package lightertest

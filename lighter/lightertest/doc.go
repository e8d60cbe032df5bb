// Package lightertest is a fake Lighter API server: canned, realistic JSON
// for the endpoints package lighter calls (systemConfig,
// publicPoolsMetadata, account, pnl, orderBooks, candles), behind a
// rolling-window rate limit that answers 429 with Retry-After as Lighter
// does, with counters and failure injection for tests.
//
// It is ordinary (non-test) code, so that tests, integration tests and the
// command line's offline demo can all use it. It does not import package
// lighter: pass lighter.EndpointWeight as Options.Weight for Lighter's
// weighted (premium) limits.
package lightertest

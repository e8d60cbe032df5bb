// Package lighter is an HTTP session for the Lighter exchange API: its base
// URL, a rate limit shared by every goroutine, process and host that uses
// the same limiter URL, and the retry semantics of the Python original
// (eth_defi.lighter.session).
//
// Every attempt, first or retry, takes its tokens from the limiter, so that
// retries can never exceed the limit; a 429 holds the shared key for every
// process. A fleet of workers moves from the default SQLite limiter (one
// host) to Redis (many hosts) by setting LIGHTER_RATE_LIMIT_URL, without a
// rebuild: this package links all three built-in backends.
package lighter

// Package redis is the multi-host backend of package limiter (URLs
// "redis://" and "rediss://"): the GCRA of DESIGN.md on one key per limit
// in Redis, with Redis's own clock (TIME), so that hosts whose clocks
// disagree still share one limit.
//
// Immediate decisions ([Limiter.AllowN]) run github.com/go-redis/redis_rate's
// script; reservations, cancels, Hold, Status and Reset run scripts of this
// package in redis_rate's encoding (float seconds since 2017-01-01 under
// "rate:" + key), so that programs calling redis_rate directly with [RateKey]
// share the budget with this package's Limiters. Every decision, a
// reservation included, is one round trip; a Wait then sleeps locally.
//
// Keys are "rate:{<prefix><key>}" (see [Key]): the braces make the key its
// own Redis Cluster hash tag, and every script touches one key.
//
// A Limiter accepts any go-redis UniversalClient ([New]), or opens its own
// from a URL through [limiter.Open]:
//
//	redis://[:password@]host[:port][/db][?prefix=app:&timeout=2s&<go-redis options>]
//	rediss://... (TLS)
//
// The query accepts "prefix" and "timeout" (see [WithPrefix] and
// [WithTimeout]) and every option of go-redis's ParseURL. A password never
// appears in an error.
package redis

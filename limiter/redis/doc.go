// Package redis is the multi-host backend of package limiter (URLs
// "redis://", "rediss://", "redis+cluster://", "redis+sentinel://"): the
// GCRA of package limiter on one key per limit in Redis, with Redis's own
// clock (TIME), so that hosts whose clocks disagree still share one limit.
//
// Immediate decisions of one need ([limiter.Handle.AllowN]) run
// github.com/go-redis/redis_rate's script; reservations, requests of
// several needs, cancels, Hold, Status and Reset run scripts of this
// package in redis_rate's encoding (float seconds since 2017-01-01 under
// "rate:" + key), so that programs calling redis_rate directly with
// [RateKey] share the budget of every key with this package's Limiters,
// the keys of requests of several needs included. The digits of a stored
// value below the microsecond carry the epoch of the last Reset and a token
// per write, which a reservation's cancel compares; to redis_rate they add
// under 0.1 µs. Every decision, a reservation included, is one round trip;
// a Wait then sleeps locally.
//
// A request of several needs ([limiter.Handle.Allow],
// [limiter.Handle.Reserve], [limiter.WaitAll]) is one script on all of its
// keys: it takes every need's tokens or none. A reservation whose slot s
// one need sets charges the other needs' keys from s (their tat becomes
// max(tat, s) + n*T), so they lose the capacity between their tat and s:
// charging them earlier would let two requests share an instant. Its
// cancel gives back, on each key, only what nothing wrote over since.
//
// Keys are "rate:{<prefix><key>}" (see [Key]): the braces make the key its
// own Redis Cluster hash tag. A key that holds its own tag, such as
// "{account:42}:weight", is stored as "rate:<prefix><key>" instead, so
// that the keys sharing a tag share a hash slot. On a Redis Cluster (or a
// Ring of several shards) the keys of one request must share one tag
// ("{account:42}:requests" and "{account:42}:weight"): a request whose
// keys are in different slots fails before any round trip, with an error
// naming them and matching limiter.ErrInvalidArgument. On a single node
// (or through a sentinel) any keys work. With an empty prefix, the key
// "{x}" is stored as "x" is (one limit); a request naming both is an
// error. A worker of the previous release stores a tagged key under
// "rate:{<prefix><key>}": while both releases share a Redis, such a key
// is two limits.
//
// A Limiter accepts any go-redis UniversalClient ([New]), or opens its own
// from a URL through [limiter.Open]:
//
//	redis://[:password@]host[:port][/db][?prefix=app:&timeout=2s&<go-redis options>]
//	redis+cluster://[:password@]host1:port1,host2:port2,...[/][?addr=host3:port3&<options>]
//	redis+sentinel://[:password@]sentinel1:26379,sentinel2:26379/<master name>[/db][?<options>]
//	rediss://, rediss+cluster://, rediss+sentinel:// (TLS)
//
// The query accepts "prefix" and "timeout" (see [WithPrefix] and
// [WithTimeout]), "on_failure" (wait, open or fallback),
// "fallback_share" and "unavailable_after" (see [WithPolicy] and
// [limiter.Policy]; unavailable_after=0 gives up at the first failure),
// and every option of go-redis's ParseURL, ParseClusterURL or
// ParseFailoverURL respectively. In the cluster and sentinel forms every
// host carries its port; IPv6 hosts go in addr options. The sentinel form's
// user info is the master's (and replicas') credentials; the sentinels are
// asked without any (give New a FailoverClient for sentinels that need a
// password). A password never appears in an error.
//
// When Redis cannot answer, the failure policy decides (see [WithPolicy]):
// by default callers wait for it, retried with backoff, up to their
// deadline or 30 s, and then get an error matching limiter.ErrUnavailable.
package redis

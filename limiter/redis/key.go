package redis

// redisRatePrefix is what redis_rate puts before every key it is given.
const redisRatePrefix = "rate:"

// Key is the Redis key that holds the limit key under prefix:
// "rate:{" + prefix + key + "}". The braces are a Redis Cluster hash tag, so
// the key lives in one slot.
func Key(prefix, key string) string { return redisRatePrefix + RateKey(prefix, key) }

// RateKey is the key to give github.com/go-redis/redis_rate's Limiter (which
// adds "rate:" itself) so that it shares the limit key of a Limiter with
// this prefix: "{" + prefix + key + "}".
func RateKey(prefix, key string) string { return "{" + prefix + key + "}" }

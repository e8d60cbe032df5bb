package redis

import "strings"

// redisRatePrefix is what redis_rate puts before every key it is given.
const redisRatePrefix = "rate:"

// Key is the Redis key that holds the limit key under prefix.
//
// A key holding its own Redis Cluster hash tag (a '{' followed later by a
// '}' with at least one byte between, such as "{account:42}:weight") is
// stored as "rate:" + prefix + key, so that the keys sharing a tag share a
// hash slot and can be needs of one request on a cluster. Any other key is
// stored as "rate:{" + prefix + key + "}": the braces make the whole key
// its own hash tag. (With an empty prefix, the key "{x}" is thus stored as
// the key "x" is: one limit.) A prefix should hold no braces, which would
// move the tag.
func Key(prefix, key string) string { return redisRatePrefix + RateKey(prefix, key) }

// RateKey is the key to give github.com/go-redis/redis_rate's Limiter (which
// adds "rate:" itself) so that it shares the limit key of a Limiter with
// this prefix: [Key] without its "rate:", so prefix + key for a key holding
// its own hash tag, and "{" + prefix + key + "}" for any other.
func RateKey(prefix, key string) string {
	if hasTag(key) {
		return prefix + key
	}
	return "{" + prefix + key + "}"
}

// hasTag reports whether key holds a Redis Cluster hash tag: Redis hashes
// only what lies between the first '{' and the first '}' after it, when
// that is not empty.
func hasTag(key string) bool {
	_, ok := hashTag(key)
	return ok
}

// hashTag returns the part of key that Redis Cluster hashes (and a Ring
// shards on): its hash tag when it has one (ok), else all of it.
func hashTag(key string) (tag string, ok bool) {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e], true
		}
	}
	return key, false
}

// slot is the Redis Cluster hash slot of the Redis key rkey: CRC16 (XMODEM)
// of its hash tag, modulo 16384.
func slot(rkey string) int {
	tag, _ := hashTag(rkey)
	return int(crc16(tag) % 16384)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum
// of Redis Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

package redis

// Slot is the Redis Cluster hash slot of a Redis key, for the tests.
var Slot = slot

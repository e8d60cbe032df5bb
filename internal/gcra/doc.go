// Package gcra is the generic cell rate algorithm on one stored value per
// key, the theoretical arrival time (tat), in integer microseconds on the
// store's clock: pure arithmetic on the requests of limiter/driver. The
// memory and SQLite stores decide with it; the Redis store runs the same
// formulas in Lua.
package gcra

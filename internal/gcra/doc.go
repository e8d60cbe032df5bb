// Package gcra is the generic cell rate algorithm on one stored value per
// key, the theoretical arrival time (tat), in integer microseconds on the
// store's clock. The memory and SQLite backends share it; the Redis backend
// implements the same formulas in Lua.
package gcra

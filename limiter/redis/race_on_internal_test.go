//go:build race

package redis

// raceEnabled reports whether the test binary was built with -race, which
// makes the random differential tests several times slower: they try
// fewer seeds there (the plain run tries them all).
const raceEnabled = true

//go:build !race

package redis

// raceEnabled reports whether the test binary was built with -race (see
// race_on_internal_test.go).
const raceEnabled = false

//go:build !race

package memstore

// raceBuild is whether this test binary was built with -race (see
// race_on_test.go).
const raceBuild = false

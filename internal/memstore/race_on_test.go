//go:build race

package memstore

// raceBuild is whether this test binary was built with -race, under which
// the heaviest property runs are shortened (the race detector makes them
// ten times slower; a plain run tries them in full).
const raceBuild = true

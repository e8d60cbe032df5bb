//go:build !race

package integration

// raceBuild is whether this test binary was built with -race: workers it
// builds are built alike, so that they reuse the packages it compiled.
const raceBuild = false

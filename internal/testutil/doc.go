// Package testutil holds the helpers the project's tests share, one home
// each: a clock the test moves by hand (clock.go) and a log buffer safe for
// concurrent writers (logbuffer.go). It imports only the standard library,
// so that any package's internal tests may use it.
package testutil

// Package testutil holds the helpers the project's tests share, one home
// each: clocks the test moves by hand (clock.go: [Clock]; sleepclock.go:
// [SleepClock], whose Sleep records the pause; stepclock.go: [StepClock],
// whose Sleep waits for the test to move it; offsetclock.go: [OffsetClock],
// the real clock plus a step), a log buffer safe for concurrent writers
// (logbuffer.go) and a transport that counts open response bodies
// (bodycounter.go). It imports only the standard library, so that any
// package's internal tests may use it.
package testutil

// Package proctest runs a test across real OS processes: the test binary
// re-executes itself, once per child, running only the calling test. The
// children start their load at one shared instant and report admission
// times on standard output; the parent collects them.
//
//	func TestProcesses(t *testing.T) {
//		if c, ok := proctest.Child(); ok {
//			// ... run load until c.Start+duration, calling c.Admit()
//			return
//		}
//		times := proctest.Spawn(t, 4, nil, time.Minute)
//	}
package proctest

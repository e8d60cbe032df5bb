// Package proctest runs a test across real OS processes: the test binary
// re-executes itself, once per child, running only the calling test. The
// children start their load at one shared instant and report admission
// times on standard output; the parent collects them.
//
//	func TestProcesses(t *testing.T) {
//		if c, ok := proctest.Child(); ok {
//			defer c.Flush()
//			err := c.Load(8, 2*time.Second, func(ctx context.Context) (bool, error) {
//				return true, limiter.Wait(ctx, l, "k", lim, 1)
//			})
//			// ... report err
//			return
//		}
//		times, counts := proctest.Merge(proctest.Spawn(t, 4, nil, time.Minute))
//	}
//
// A harness with a protocol of its own (the integration fleet) starts its
// children with [Command] and reads them itself.
package proctest

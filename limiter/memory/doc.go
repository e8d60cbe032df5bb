// Package memory is the in-process backend of package limiter (URL
// "memory://"): one GCRA timestamp per key in a map, for tests, single
// processes and as a local fallback. It keeps time on the monotonic clock,
// so wall clock jumps do not affect it.
package memory

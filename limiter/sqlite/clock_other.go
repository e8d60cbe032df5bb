//go:build !linux

package sqlite

import "time"

// bootTime: no clock shared by the host's processes that wall-clock steps
// leave alone is known here; the wall clock is used.
func bootTime() (int64, bool) { return 0, false }

func bootID() (string, bool) { return "", false }

// threadCPU is unknown here: 0.
func threadCPU() time.Duration { return 0 }

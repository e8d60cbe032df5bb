package sqlite

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// bootTime reads CLOCK_BOOTTIME in µs.
func bootTime() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false
	}
	return ts.Sec*1_000_000 + ts.Nsec/1000, true
}

// bootID reads the kernel's id of the current boot.
func bootID() (string, bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	id := strings.TrimSpace(string(b))
	return id, err == nil && id != ""
}

package sqlite

import "time"

// clockSlack is how far the host clock may go back, in µs, before a row is
// shifted: small steps back (NTP) are obeyed, costing at most this much
// extra wait, while a jump back of an hour does not block for an hour.
const clockSlack = 1_000_000

// rebase returns a row's tat on the clock now, and the last-write time to
// store with a new tat. at is the host clock of the row's last write. When
// now is more than clockSlack before at, the clock went back: the row moves
// back by the difference, which keeps the wait the row had when it was
// written and forgets the real time that passed since (conservative: no
// over-admission). Otherwise the stored time is the latest clock seen, so
// that repeated small steps back add up to a shift too.
func rebase(tat, at, now int64) (eff, newAt int64) {
	if at-now > clockSlack {
		return tat - (at - now), now
	}
	return tat, max(at, now)
}

// hostClock is the clock of a handle that was given none (WithClock): the
// Unix time of a clock that every process of the host shares and that no
// step of the wall clock moves.
//
// On Linux it is CLOCK_BOOTTIME (which counts suspend and is slewed, never
// stepped) plus an offset to the Unix epoch stored in the file with the boot
// it was taken in: the first handle opened after a boot takes it from the
// wall clock, and every later handle of that boot, in any process, reads
// it. A wall clock stepped while the host runs then changes nothing. After a
// reboot the offset is taken from the wall clock again, and rows written
// before it that look to be in the future by more than clockSlack are
// shifted as on any clock step back (rebase). Elsewhere, or when the boot
// clock cannot be read, it is the wall clock.
type hostClock struct {
	wall   func() time.Time
	boot   func() (int64, bool) // µs since boot; false when there is none
	bootID func() (string, bool)
}

// systemClock is the host's own.
var systemClock = hostClock{wall: time.Now, boot: bootTime, bootID: bootID}

package sqlite

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

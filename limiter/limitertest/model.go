package limitertest

// refModel is docs/design.md's GCRA, written again from the formulas and kept
// apart from internal/gcra so that the two can disagree: per key a tat and
// the token of the write that stored it, in integer microseconds on the
// model's clock.
type refModel struct {
	keys map[string]refKey
	tok  int // the last write's token
}

type refKey struct {
	tat int64 // noTat: no value (a key never written, or Reset)
	tok int
}

// noTat is the tat of a key without a value: every max picks the other.
const noTat = -1 << 62

// refNeed is n tokens of key with emission interval t and tau = Burst*t.
type refNeed struct {
	key       string
	n, t, tau int64
}

// refAnswer is the model's answer to a take.
type refAnswer struct {
	ok         bool
	wait       int64 // the Delay granted, or the RetryAfter refused
	binding    int
	slots      []int64 // each need's s_i
	remaining  []int64
	resetAfter []int64
	undo       []refUndo // granted: what a cancel gives back
}

type refUndo struct {
	key        string
	prev, mine refKey
}

func newRefModel() *refModel { return &refModel{keys: make(map[string]refKey)} }

func (m *refModel) get(key string) refKey {
	if k, ok := m.keys[key]; ok {
		return k
	}
	return refKey{tat: noTat}
}

func (m *refModel) put(key string, tat int64) refKey {
	m.tok++
	k := refKey{tat: tat, tok: m.tok}
	m.keys[key] = k
	return k
}

func refRemaining(tat, now, t, tau int64) int64 { return max(0, (tau-(max(tat, now)-now))/t) }

// take decides an Allow (maxWait 0) or a Reserve: s_i = max(now, tat_i +
// n_i*T_i - tau_i), s = max_i s_i, binding the first argmax; granted when
// s-now <= maxWait, every tat_i = max(tat_i, s) + n_i*T_i.
func (m *refModel) take(now int64, needs []refNeed, maxWait int64) refAnswer {
	a := refAnswer{remaining: make([]int64, len(needs)), resetAfter: make([]int64, len(needs))}
	s := now
	for i, nd := range needs {
		si := max(now, m.get(nd.key).tat+nd.n*nd.t-nd.tau)
		a.slots = append(a.slots, si)
		if si > s {
			s, a.binding = si, i
		}
	}
	a.wait = s - now
	if a.wait > maxWait {
		for i, nd := range needs {
			base := max(m.get(nd.key).tat, now)
			a.remaining[i], a.resetAfter[i] = refRemaining(base, now, nd.t, nd.tau), base-now
		}
		return a
	}
	a.ok = true
	for i, nd := range needs {
		prev := m.get(nd.key)
		tat := max(prev.tat, s) + nd.n*nd.t
		a.undo = append(a.undo, refUndo{key: nd.key, prev: prev, mine: m.put(nd.key, tat)})
		a.remaining[i], a.resetAfter[i] = refRemaining(tat, now, nd.t, nd.tau), tat-now
	}
	return a
}

// hold is docs/design.md's Hold(d): tat = max(tat+1, now+d+tau-T), an
// idle tat (at or before now) counting as none.
func (m *refModel) hold(now int64, nd refNeed, d int64) {
	held := now + d + nd.tau - nd.t
	if tat := m.get(nd.key).tat; tat > now {
		held = max(held, tat+1)
	}
	m.put(nd.key, held)
}

// reset forgets the key: its next value carries a new token, so that no
// cancel of an earlier reservation matches it.
func (m *refModel) reset(key string) { m.tok++; m.keys[key] = refKey{tat: noTat, tok: m.tok} }

// status is Remaining, NextAfter and FullAfter of a key, unchanged.
func (m *refModel) status(now int64, nd refNeed) (remaining, nextAfter, fullAfter int64) {
	base := max(m.get(nd.key).tat, now)
	return refRemaining(base, now, nd.t, nd.tau), max(0, base+nd.t-now-nd.tau), base - now
}

// cancel restores, per key, the value before the reservation where the key
// still holds the reservation's own write.
func (m *refModel) cancel(undo []refUndo) {
	for _, u := range undo {
		if m.get(u.key) == u.mine {
			m.keys[u.key] = u.prev
		}
	}
}

package lightertest

import "time"

// window is a sliding log of admitted requests: the rolling-window limit.
// It is not safe for concurrent use; the Handler locks around it.
type window struct {
	limit int           // weight admitted per span; 0 means no limit
	span  time.Duration // Window - Jitter
	log   []admission   // admitted requests, oldest first
	used  int           // sum of the weights in log
}

type admission struct {
	at     time.Time
	weight int
}

// admit decides a request of weight w arriving at now. It returns ok, or
// how long until the request would fit (0 when it never can, being
// heavier than the limit).
func (w *window) admit(now time.Time, weight int) (ok bool, retryAfter time.Duration) {
	if w.limit <= 0 {
		return true, 0
	}
	// Forget what arrived at or before now-span: the window counted is the
	// half-open (now-span, now].
	cutoff := now.Add(-w.span)
	i := 0
	for i < len(w.log) && !w.log[i].at.After(cutoff) {
		w.used -= w.log[i].weight
		i++
	}
	w.log = w.log[i:]
	if w.used+weight <= w.limit {
		w.log = append(w.log, admission{at: now, weight: weight})
		w.used += weight
		return true, 0
	}
	if weight > w.limit {
		return false, 0
	}
	need := w.used + weight - w.limit
	for _, a := range w.log {
		need -= a.weight
		if need <= 0 {
			return false, a.at.Add(w.span).Sub(now)
		}
	}
	return false, w.span // unreachable: used - weights of log is 0
}

// reset forgets every admission.
func (w *window) reset() {
	w.log, w.used = nil, 0
}

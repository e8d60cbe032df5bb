package retryafter

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSeconds is the most whole seconds a time.Duration holds.
const maxSeconds = int64(math.MaxInt64 / time.Second)

// Parse returns the delay a Retry-After value asks for at now: whole
// seconds (RFC 9110's 1*DIGIT, of any length: a number too large for a
// Duration is its largest whole-second value, so that the caller's cap
// applies) or an HTTP date. ok is false for an absent or malformed value
// (a sign, a fraction), or a date that is not in the future, so that the
// caller falls back to its own delay.
func Parse(value string, now time.Time) (d time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if isDigits(value) {
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs > maxSeconds { // only digits: too large
			secs = maxSeconds
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, false
}

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

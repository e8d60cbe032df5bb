package lighter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Decimal is a decimal value as Lighter sends it, kept as its exact text
// ("19995.123456"). Lighter writes most amounts as JSON strings and some as
// numbers; Decimal accepts both, so a field changing form does not break
// decoding. The empty Decimal means the field was absent, null or "".
// Decoding refuses any other text that is not a decimal number (an
// optional "-", digits, an optional fraction and exponent: "NaN", "Inf",
// "0x1p3", " 1" and "1." are refused).
type Decimal string

// maxShown bounds how much of a bad value an error quotes.
const maxShown = 40

// UnmarshalJSON accepts a JSON string holding a decimal number, a number,
// or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "" && !isDecimal(s) {
			return fmt.Errorf("lighter: decimal: %s is not a decimal number", shown(strconv.Quote(s)))
		}
		*d = Decimal(s)
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("lighter: decimal: want a string or a number, got %s", shown(string(b)))
		}
		*d = Decimal(n)
		return nil
	}
}

// shown is s, cut to maxShown bytes and marked so when longer.
func shown(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return s[:maxShown] + fmt.Sprintf("... (%d bytes)", len(s))
}

// isDecimal reports whether s is a decimal number: an optional "-",
// digits, then optionally "." and digits, then optionally "e" or "E", a
// sign and digits.
func isDecimal(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// Float64 returns d as a float64: 0 for the empty Decimal, an error naming
// the text when it is not a decimal number or lies beyond float64's range
// (a value too small to hold is 0, not an error).
func (d Decimal) Float64() (float64, error) {
	if d == "" {
		return 0, nil
	}
	if !isDecimal(string(d)) {
		return 0, fmt.Errorf("lighter: decimal %s is not a number", shown(strconv.Quote(string(d))))
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if errors.Is(err, strconv.ErrRange) && (f > 1 || f < -1) {
		return 0, fmt.Errorf("lighter: decimal %s is out of float64's range", shown(strconv.Quote(string(d))))
	}
	return f, nil
}

// IsZero reports whether d is absent (empty).
func (d Decimal) IsZero() bool { return d == "" }

// String returns the text of d.
func (d Decimal) String() string { return string(d) }

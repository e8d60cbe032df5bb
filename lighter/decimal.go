package lighter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Decimal is a decimal value as Lighter sends it, kept as its exact text
// ("19995.123456"). Lighter writes most amounts as JSON strings and some as
// numbers; Decimal accepts both, so a field changing form does not break
// decoding. The empty Decimal means the field was absent or null.
type Decimal string

// UnmarshalJSON accepts a JSON string, a number or null.
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
		*d = Decimal(s)
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("lighter: decimal: want a string or a number, got %s", b)
		}
		*d = Decimal(n)
		return nil
	}
}

// Float64 returns d as a float64: 0 for the empty Decimal, an error naming
// the text when it is not a number.
func (d Decimal) Float64() (float64, error) {
	if d == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil {
		return 0, fmt.Errorf("lighter: decimal %q is not a number", string(d))
	}
	return f, nil
}

// IsZero reports whether d is absent (empty).
func (d Decimal) IsZero() bool { return d == "" }

// String returns the text of d.
func (d Decimal) String() string { return string(d) }

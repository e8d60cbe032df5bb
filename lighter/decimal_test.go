package lighter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

// Decimal keeps the exact text of every decimal form, from a string or a
// number, and round-trips it through JSON (as a string) unchanged.
func TestDecimalExactForms(t *testing.T) {
	huge := strings.Repeat("9", 5000) + "." + strings.Repeat("1", 5000)
	for _, in := range []string{
		`"0"`, `"-0"`, `-0`, `"0.000000000000000000000001"`, `"007"`, `"1e-7"`, `"1E+30"`, `1.5e300`,
		`"123456789012345678901234567890.123456789"`, `123456789012345678901234567890.123456789`,
		`"` + huge + `"`, `"-12.50"`,
	} {
		var d lighter.Decimal
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Errorf("%.40s: %v", in, err)
			continue
		}
		if want := strings.Trim(in, `"`); d.String() != want {
			t.Errorf("%.40s: text %.40q, want it kept exactly", in, d)
		}
		b, err := json.Marshal(d)
		var back lighter.Decimal
		if err != nil || json.Unmarshal(b, &back) != nil || back != d {
			t.Errorf("%.40s: round trip %.40s -> %.40q (%v)", in, b, back, err)
		}
	}
}

// A string that is not a decimal number is refused when decoded, with an
// error naming it (cut short when long), never kept as a Decimal nor read
// as a float: NaN, Inf and hex floats included, which strconv would take.
func TestDecimalInvalidText(t *testing.T) {
	for _, in := range []string{
		"abc", "NaN", "nan", "Inf", "-Infinity", "+1", "0x1p3", "1_000", " 1", "1 ", "1.", ".5", "1e", "1e+", "--1",
		"12,5", "1.2.3", "١٢", strings.Repeat("1", 300) + "x",
	} {
		b, _ := json.Marshal(in)
		var d lighter.Decimal
		err := json.Unmarshal(b, &d)
		if err == nil {
			t.Errorf("%.40q: decoded as %.40q, want an error", in, d)
			continue
		}
		if want := in[:min(len(in), 30)]; !strings.Contains(err.Error(), want) || len(err.Error()) > 200 {
			t.Errorf("%.40q: error %q, want it naming the text (cut short)", in, err)
		}
		if _, err := lighter.Decimal(in).Float64(); err == nil {
			t.Errorf("Decimal(%.40q).Float64(): no error", in)
		}
	}
}

// Float64 refuses a decimal beyond float64's range, saying so.
func TestDecimalFloat64Range(t *testing.T) {
	_, err := lighter.Decimal("1e400").Float64()
	if err == nil || !strings.Contains(err.Error(), "1e400") || !strings.Contains(err.Error(), "range") {
		t.Fatalf("Float64(1e400): %v, want an out-of-range error naming it", err)
	}
	if f, err := lighter.Decimal("-0").Float64(); err != nil || f != 0 {
		t.Fatalf("Float64(-0): %v, %v", f, err)
	}
	if f, err := lighter.Decimal("1e-400").Float64(); err != nil || f != 0 {
		t.Fatalf("Float64(1e-400): %v, %v: want 0 (underflow is not an error)", f, err)
	}
	if err := json.Unmarshal([]byte(`[1]`), new(lighter.Decimal)); err == nil || !strings.Contains(err.Error(), "[1]") {
		t.Fatalf("Decimal from an array: %v, want an error naming it", err)
	}
}

package lighter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		json    string
		want    lighter.Decimal
		wantF   float64
		wantErr bool
	}{
		{`"19995.123456"`, "19995.123456", 19995.123456, false},
		{`12.5`, "12.5", 12.5, false},
		{`-3`, "-3", -3, false},
		{`1e3`, "1e3", 1000, false},
		{`null`, "", 0, false},
		{`""`, "", 0, false},
		{`true`, "", 0, true},
		{`{}`, "", 0, true},
	} {
		var v struct {
			D lighter.Decimal `json:"d"`
		}
		err := json.Unmarshal([]byte(`{"d":`+tc.json+`}`), &v)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.json, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		f, err := v.D.Float64()
		if v.D != tc.want || err != nil || f != tc.wantF || v.D.IsZero() != (tc.want == "") || v.D.String() != string(tc.want) {
			t.Errorf("%s: %q (%v, %v), want %q (%v)", tc.json, v.D, f, err, tc.want, tc.wantF)
		}
	}
	if _, err := lighter.Decimal("12,5").Float64(); err == nil || !strings.Contains(err.Error(), `"12,5"`) {
		t.Fatalf("Float64 of 12,5: %v, want an error naming it", err)
	}
}

package lighter_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter"
	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// specField is one response field of Lighter's OpenAPI description, as
// scripts/specfields.go writes them to testdata/spec_fields.json.
type specField struct {
	Type     string                `json:"type"`
	Format   string                `json:"format"`
	Required bool                  `json:"required"`
	Enum     []any                 `json:"enum"`
	Items    string                `json:"items"`
	Values   string                `json:"values"`
	Object   string                `json:"object"`
	Fields   map[string]*specField `json:"fields"`
}

type specEndpoint struct {
	Schema string                `json:"schema"`
	Fields map[string]*specField `json:"fields"`
}

// specAnswers maps each endpoint the Session calls to the type its answer
// decodes into.
var specAnswers = map[string]reflect.Type{
	lighter.PathSystemConfig:        reflect.TypeFor[lighter.SystemConfig](),
	lighter.PathPublicPoolsMetadata: reflect.TypeFor[lighter.PublicPoolsPage](),
	lighter.PathAccount:             reflect.TypeFor[lighter.Accounts](),
	lighter.PathPnL:                 reflect.TypeFor[lighter.PnL](),
	lighter.PathOrderBooks:          reflect.TypeFor[lighter.OrderBookList](),
	lighter.PathCandles:             reflect.TypeFor[lighter.Candles](),
	lighter.PathFundings:            reflect.TypeFor[lighter.Fundings](),
	lighter.PathFundingRates:        reflect.TypeFor[lighter.FundingRates](),
	lighter.PathRecentTrades:        reflect.TypeFor[lighter.Trades](),
	lighter.PathTrades:              reflect.TypeFor[lighter.Trades](),
	lighter.PathOrderBookDetails:    reflect.TypeFor[lighter.OrderBookDetails](),
	lighter.PathExchangeStats:       reflect.TypeFor[lighter.ExchangeStats](),
	lighter.PathAccountsByL1Address: reflect.TypeFor[lighter.SubAccounts](),
}

func loadSpec(t *testing.T) map[string]*specEndpoint {
	t.Helper()
	b, err := os.ReadFile("testdata/spec_fields.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]*specEndpoint
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	var paths, typed []string
	for p := range spec {
		paths = append(paths, p)
	}
	for p := range specAnswers {
		typed = append(typed, p)
	}
	slices.Sort(paths)
	slices.Sort(typed)
	if !slices.Equal(paths, typed) {
		t.Fatalf("spec_fields.json lists %v, the Session's answer types %v", paths, typed)
	}
	return spec
}

// jsonFields returns the JSON fields of struct type st by name, embedded
// structs flattened, as encoding/json sees them.
func jsonFields(st reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range st.NumField() {
		f := st.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out[tag] = f.Type
	}
	return out
}

// checkKind reports whether Go type gt can hold the spec's type.
func checkKind(spec string, gt reflect.Type) bool {
	for gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}
	switch spec {
	case "string":
		return gt.Kind() == reflect.String
	case "integer":
		switch gt.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return true
		}
	case "number":
		return gt.Kind() == reflect.Float64 || gt.Kind() == reflect.Float32
	case "boolean":
		return gt.Kind() == reflect.Bool
	}
	return false
}

// missingFields lists, as "path (why)", every spec field type gt lacks or
// holds in a type of another kind, nested objects and arrays included.
func missingFields(at string, gt reflect.Type, fields map[string]*specField) []string {
	for gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}
	if gt.Kind() != reflect.Struct {
		return []string{fmt.Sprintf("%s (Go %s, want a struct)", at, gt)}
	}
	have := jsonFields(gt)
	var out []string
	for name, f := range fields {
		path := at + "." + name
		ft, ok := have[name]
		if !ok {
			out = append(out, path+" (absent from "+gt.Name()+")")
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case f.Type == "array":
			if ft.Kind() != reflect.Slice {
				out = append(out, fmt.Sprintf("%s (Go %s, want a slice)", path, ft))
			} else if f.Fields != nil {
				out = append(out, missingFields(path+"[]", ft.Elem(), f.Fields)...)
			} else if !checkKind(f.Items, ft.Elem()) {
				out = append(out, fmt.Sprintf("%s (Go %s, want []%s)", path, ft, f.Items))
			}
		case f.Type == "object" && f.Values != "":
			if ft.Kind() != reflect.Map || !checkKind(f.Values, ft.Elem()) {
				out = append(out, fmt.Sprintf("%s (Go %s, want a map of %s)", path, ft, f.Values))
			}
		case f.Type == "object":
			out = append(out, missingFields(path, ft, f.Fields)...)
		case !checkKind(f.Type, ft):
			out = append(out, fmt.Sprintf("%s (Go %s, want %s %s)", path, ft, f.Type, f.Format))
		}
	}
	slices.Sort(out)
	return out
}

// TestSpecFields: every answer type carries every field Lighter's OpenAPI
// description lists for its endpoint, with a Go type of the spec's kind
// (strings, Decimals included, for strings; integers; floats for numbers).
func TestSpecFields(t *testing.T) {
	for path, ep := range loadSpec(t) {
		if miss := missingFields(ep.Schema, specAnswers[path], ep.Fields); len(miss) > 0 {
			t.Errorf("%s: %s lacks %d spec fields:\n  %s", path, specAnswers[path], len(miss), strings.Join(miss, "\n  "))
		}
	}
}

// TestSpecFieldsCheckFails: the check above sees a missing field, a nested
// one and one of the wrong kind.
func TestSpecFieldsCheckFails(t *testing.T) {
	type inner struct {
		A int `json:"a"`
	}
	type outer struct {
		lighter.ResultCode
		Items []inner `json:"items"`
		N     string  `json:"n"`
	}
	fields := map[string]*specField{
		"code":    {Type: "integer"},
		"missing": {Type: "string"},
		"n":       {Type: "number"},
		"items":   {Type: "array", Fields: map[string]*specField{"a": {Type: "integer"}, "b": {Type: "boolean"}}},
	}
	got := missingFields("T", reflect.TypeFor[outer](), fields)
	want := []string{"T.items[].b (absent from inner)", "T.missing (absent from outer)", "T.n (Go string, want number )"}
	if !slices.Equal(got, want) {
		t.Fatalf("missing %q\nwant %q", got, want)
	}
}

// specExample is an answer shaped as the spec describes it, every field
// present.
func specExample(fields map[string]*specField) map[string]any {
	out := map[string]any{}
	for name, f := range fields {
		out[name] = specValue(f.Type, f)
	}
	return out
}

func specValue(typ string, f *specField) any {
	if f != nil && len(f.Enum) > 0 {
		return f.Enum[0]
	}
	switch typ {
	case "string":
		return "12.5"
	case "integer":
		return 7
	case "number":
		return 1.25
	case "boolean":
		return true
	case "array":
		if f.Fields != nil {
			return []any{specExample(f.Fields)}
		}
		return []any{specValue(f.Items, nil)}
	case "object":
		if f.Values != "" {
			return map[string]any{"1640995200": specValue(f.Values, nil)}
		}
		return specExample(f.Fields)
	}
	panic("unknown spec type " + typ)
}

// decodeStrict decodes b into a new value of type gt, refusing any field
// the type does not declare.
func decodeStrict(b []byte, gt reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(reflect.New(gt).Interface())
}

// TestSpecAnswersDecodeStrict: a spec-shaped answer of every endpoint,
// every field present, decodes into its type with unknown fields
// disallowed.
func TestSpecAnswersDecodeStrict(t *testing.T) {
	for path, ep := range loadSpec(t) {
		b, err := json.Marshal(specExample(ep.Fields))
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(b, specAnswers[path]); err != nil {
			t.Errorf("%s: %v\nanswer %s", path, err, b)
		}
	}
}

// shapeErrors lists where a decoded JSON answer v departs from the spec's
// fields: a required field absent, or a field the spec does not list.
func shapeErrors(at string, v any, fields map[string]*specField) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %T, want an object", at, v)}
	}
	var out []string
	for name, f := range fields {
		val, present := obj[name]
		switch {
		case !present && f.Required:
			out = append(out, at+"."+name+" (required, absent)")
		case !present || val == nil || f.Fields == nil:
		case f.Type == "array":
			items, ok := val.([]any)
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: %T, want an array", at, name, val))
			}
			for i, item := range items {
				out = append(out, shapeErrors(fmt.Sprintf("%s.%s[%d]", at, name, i), item, f.Fields)...)
			}
		default:
			out = append(out, shapeErrors(at+"."+name, val, f.Fields)...)
		}
	}
	for name := range obj {
		if _, ok := fields[name]; !ok {
			out = append(out, at+"."+name+" (not in the spec)")
		}
	}
	slices.Sort(out)
	return out
}

// TestFakeAnswersAreSpecShaped: every endpoint of lightertest answers with
// every field the spec requires and no other, and its answer decodes into
// the Session's type with unknown fields disallowed.
func TestFakeAnswersAreSpecShaped(t *testing.T) {
	spec := loadSpec(t)
	now := time.Now()
	h := lightertest.NewHandler(lightertest.Options{Pools: 3})
	for _, target := range []string{
		lighter.PathSystemConfig,
		lighter.PathPublicPoolsMetadata + "?filter=all&index=281474976710655&limit=100",
		lighter.PathAccount + "?by=index&value=1003",
		lighter.PathAccount + "?by=index&value=281474976710654",
		lighter.PathAccount + "?by=index&value=42",
		lighter.PathPnL + fmt.Sprintf("?by=index&value=1003&resolution=1d&start_timestamp=0&end_timestamp=%d&count_back=3", now.Unix()),
		lighter.PathOrderBooks,
		lighter.PathCandles + fmt.Sprintf("?market_id=0&resolution=1h&start_timestamp=0&end_timestamp=%d&count_back=3", now.UnixMilli()),
		lighter.PathFundings + fmt.Sprintf("?market_id=0&resolution=1h&start_timestamp=0&end_timestamp=%d&count_back=3", now.Unix()),
		lighter.PathFundingRates,
		lighter.PathRecentTrades + "?market_id=0&limit=5",
		lighter.PathTrades + "?sort_by=trade_id&limit=5",
		lighter.PathOrderBookDetails,
		lighter.PathExchangeStats,
		lighter.PathAccountsByL1Address + "?l1_address=0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
	} {
		path, _, _ := strings.Cut(target, "?")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", target, rec.Code, rec.Body)
			continue
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if bad := shapeErrors(spec[path].Schema, v, spec[path].Fields); len(bad) > 0 {
			t.Errorf("%s departs from the spec:\n  %s", target, strings.Join(bad, "\n  "))
		}
		if err := decodeStrict(rec.Body.Bytes(), specAnswers[path]); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}

package lighter_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
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

//go:build ignore

// Command specfields writes the response fields Lighter's OpenAPI
// (Swagger 2.0) description lists for each endpoint the lighter package
// calls, as data for the package's tests (lighter/testdata/spec_fields.json):
//
//	go run scripts/specfields.go /path/to/openapi.json > lighter/testdata/spec_fields.json
//
// Each endpoint maps to its answer's definition name and fields; each field
// has the spec's type and format, whether the spec requires it, and, for
// an object or an array of objects, its own fields.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// endpoints are the GET paths the lighter package calls.
var endpoints = []string{
	"/api/v1/systemConfig",
	"/api/v1/publicPoolsMetadata",
	"/api/v1/account",
	"/api/v1/pnl",
	"/api/v1/orderBooks",
	"/api/v1/candles",
	"/api/v1/fundings",
	"/api/v1/funding-rates",
	"/api/v1/recentTrades",
	"/api/v1/trades",
	"/api/v1/orderBookDetails",
	"/api/v1/exchangeStats",
	"/api/v1/accountsByL1Address",
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Enum                 []any              `json:"enum"`
	Required             []string           `json:"required"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schema            `json:"additionalProperties"`
}

type spec struct {
	Paths map[string]map[string]struct {
		Responses map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"responses"`
	} `json:"paths"`
	Definitions map[string]*schema `json:"definitions"`
}

// Field is one response field in the output.
type Field struct {
	Type     string            `json:"type"`
	Format   string            `json:"format,omitempty"`
	Required bool              `json:"required"`
	Enum     []any             `json:"enum,omitempty"`
	Items    string            `json:"items,omitempty"`  // element type of an array of scalars
	Values   string            `json:"values,omitempty"` // value type of a map (additionalProperties)
	Object   string            `json:"object,omitempty"` // definition name of an object or array element
	Fields   map[string]*Field `json:"fields,omitempty"` // fields of that object
}

// Endpoint is one endpoint in the output.
type Endpoint struct {
	Schema string            `json:"schema"`
	Fields map[string]*Field `json:"fields"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/specfields.go OPENAPI.json")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		fail(err)
	}
	out := map[string]*Endpoint{}
	for _, p := range endpoints {
		op, ok := s.Paths[p]["get"]
		if !ok {
			fail(fmt.Errorf("no GET %s in the spec", p))
		}
		r := op.Responses["200"].Schema
		if r == nil || r.Ref == "" {
			fail(fmt.Errorf("GET %s: no 200 schema", p))
		}
		name := refName(r.Ref)
		out[p] = &Endpoint{Schema: name, Fields: fields(&s, name, nil)}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fields(s *spec, name string, seen []string) map[string]*Field {
	for _, n := range seen {
		if n == name {
			fail(fmt.Errorf("recursive definition %s", strings.Join(append(seen, name), " -> ")))
		}
	}
	d, ok := s.Definitions[name]
	if !ok {
		fail(fmt.Errorf("no definition %s", name))
	}
	req := map[string]bool{}
	for _, r := range d.Required {
		req[r] = true
	}
	names := make([]string, 0, len(d.Properties))
	for k := range d.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]*Field{}
	for _, k := range names {
		p := d.Properties[k]
		f := &Field{Type: p.Type, Format: p.Format, Required: req[k], Enum: p.Enum}
		switch {
		case p.Ref != "":
			f.Type = "object"
			f.Object = refName(p.Ref)
			f.Fields = fields(s, f.Object, append(seen, name))
		case p.Type == "array" && p.Items != nil && p.Items.Ref != "":
			f.Object = refName(p.Items.Ref)
			f.Fields = fields(s, f.Object, append(seen, name))
		case p.Type == "array" && p.Items != nil:
			f.Items = p.Items.Type
		case p.Type == "object" && p.AdditionalProperties != nil:
			f.Values = p.AdditionalProperties.Type
		}
		out[k] = f
	}
	return out
}

func refName(ref string) string { return strings.TrimPrefix(ref, "#/definitions/") }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "specfields:", err)
	os.Exit(1)
}

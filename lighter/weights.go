package lighter

import "strings"

// DefaultEndpointWeight is the weight of every endpoint Lighter's table
// does not name.
const DefaultEndpointWeight = 300

// endpointWeights is Lighter's published table of request weights for
// premium accounts (https://apidocs.lighter.xyz/docs/rate-limits), keyed by
// the path after /api/v1/. Keys ending in "/" weigh every path under them.
var endpointWeights = map[string]int{
	"sendTx":                6,
	"sendTxBatch":           6,
	"nextNonce":             6,
	"publicPools":           50,
	"txFromL1TxHash":        50,
	"accountInactiveOrders": 100,
	"deposit/latest":        100,
	"apikeys":               150,
	"transferFeeInfo":       500,
	"trades":                600,
	"recentTrades":          600,
	"changeAccountTier":     3000,
	"tokens":                3000,
	"tokens/":               3000,
	"tokens/create":         23000,
	"setAccountMetadata":    3000,
	"notification/ack":      3000,
	"createIntentAddress":   3000,
	"fastwithdraw":          3000,
	"referral/":             3000,
}

// EndpointWeight returns what a request to path costs against a premium
// account's 24,000 weight per rolling minute: 6 for sendTx, sendTxBatch and
// nextNonce; 50 for publicPools and txFromL1TxHash; 100 for
// accountInactiveOrders and deposit/latest; 150 for apikeys; 500 for
// transferFeeInfo; 600 for trades and recentTrades; 3,000 for
// changeAccountTier, tokens and tokens/* (and the other endpoints the table
// lists at 3,000); 23,000 for tokens/create; DefaultEndpointWeight (300)
// for every other endpoint.
//
// path is a URL path such as "/api/v1/sendTx"; a query string is ignored,
// and so is anything before "/api/v1/" (a base URL with its own prefix). A
// path without "/api/v1/" is taken as the endpoint name itself ("sendTx").
// Names are case-sensitive, as Lighter's are.
func EndpointWeight(path string) int {
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	if i := strings.Index(path, "/api/v1/"); i >= 0 {
		path = path[i+len("/api/v1/"):]
	}
	path = strings.Trim(path, "/")
	if w, ok := endpointWeights[path]; ok {
		return w
	}
	if dir, _, ok := strings.Cut(path, "/"); ok {
		if w, ok := endpointWeights[dir+"/"]; ok {
			return w
		}
	}
	return DefaultEndpointWeight
}

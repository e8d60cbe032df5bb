package lighter_test

import (
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

func TestEndpointWeight(t *testing.T) {
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/sendTx", 6},
		{"/api/v1/sendTxBatch", 6},
		{"/api/v1/nextNonce", 6},
		{"/api/v1/publicPools", 50},
		{"/api/v1/txFromL1TxHash", 50},
		{"/api/v1/accountInactiveOrders", 100},
		{"/api/v1/deposit/latest", 100},
		{"/api/v1/apikeys", 150},
		{"/api/v1/transferFeeInfo", 500},
		{"/api/v1/trades", 600},
		{"/api/v1/recentTrades", 600},
		{"/api/v1/changeAccountTier", 3000},
		{"/api/v1/tokens", 3000},
		{"/api/v1/tokens/revoke", 3000},
		{"/api/v1/tokens/create", 23000},
		{"/api/v1/referral/userReferrals", 3000},
		{"/api/v1/fastwithdraw", 3000},
		// Every other endpoint: 300, the pools metadata included (it is
		// not publicPools).
		{"/api/v1/publicPoolsMetadata", 300},
		{"/api/v1/account", 300},
		{"/api/v1/pnl", 300},
		{"/api/v1/orderBooks", 300},
		{"/api/v1/candles", 300},
		{"/api/v1/systemConfig", 300},
		{"/api/v1/deposit/history", 300},
		{"/", 300},
		{"", 300},
		// Forms of the path.
		{"/api/v1/trades?market_id=1&limit=10", 600},
		{"/api/v1/sendTx/", 6},
		{"/prefix/api/v1/tokens/create", 23000},
		{"sendTx", 6},
		{"tokens/create", 23000},
		{"/api/v1/SENDTX", 300}, // case-sensitive
	} {
		if got := lighter.EndpointWeight(tc.path); got != tc.want {
			t.Errorf("EndpointWeight(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

// Every endpoint but tokens/create fits in the premium tier's burst, as
// tiers.go promises.
func TestEndpointWeightFitsPremiumBurst(t *testing.T) {
	premium, err := lighter.TierByName("premium")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sendTx", "publicPools", "apikeys", "transferFeeInfo", "trades", "changeAccountTier", "tokens", "account"} {
		if w := lighter.EndpointWeight(p); w > premium.Limit.Burst {
			t.Errorf("%s weighs %d, above the premium burst %d", p, w, premium.Limit.Burst)
		}
	}
	if w := lighter.EndpointWeight("tokens/create"); w <= premium.Limit.Burst {
		t.Errorf("tokens/create weighs %d, within the premium burst %d", w, premium.Limit.Burst)
	}
}

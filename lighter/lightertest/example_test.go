package lightertest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sharedlimit/sharedlimit/lighter/lightertest"
)

// A fake Lighter serves the endpoints package lighter calls; its URL is a
// lighter.Config's APIURL.
func Example() {
	srv := lightertest.NewServer(lightertest.Options{Pools: 3})
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/v1/systemConfig")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var cfg struct {
		Code               int   `json:"code"`
		LiquidityPoolIndex int64 `json:"liquidity_pool_index"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, cfg.Code, cfg.LiquidityPoolIndex)
	fmt.Println(srv.PoolIndexes(), srv.Stats().Total)
	// Output:
	// 200 200 281474976710654
	// [281474976710654 1006 1003 1000] 1
}

// With a Limit, the server answers 429 with Retry-After once more than
// Limit requests arrive in the rolling Window (less the forgiven Jitter).
func Example_rateLimit() {
	srv := lightertest.NewServer(lightertest.Options{Limit: 2, Window: 10 * time.Second})
	defer srv.Close()

	for range 3 {
		resp, err := srv.Client().Get(srv.URL + "/api/v1/orderBooks")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	st := srv.Stats()
	fmt.Println(st.Total, st.TooMany)
	// Output:
	// 200 Retry-After=""
	// 200 Retry-After=""
	// 429 Retry-After="10"
	// 3 1
}

// Failures are injected at run time: the next requests, or every request
// to a path.
func ExampleHandler_FailNext() {
	srv := lightertest.NewServer(lightertest.Options{})
	defer srv.Close()

	srv.FailNext(1, http.StatusServiceUnavailable)
	srv.SetPathCode("/api/v1/account", 21100, "account not found")
	for _, path := range []string{"/api/v1/orderBooks", "/api/v1/orderBooks", "/api/v1/account?by=index&value=1"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		var body struct {
			Code int `json:"code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, body.Code)
	}
	// Output:
	// 503 503
	// 200 200
	// 200 21100
}

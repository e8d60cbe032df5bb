package lighter_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sharedlimit/sharedlimit/lighter"
)

func TestDeployments(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     lighter.Config
		env     map[string]string
		wantURL string
		wantDep string
		wantLLP int64
	}{
		{"default", lighter.Config{}, nil, lighter.Mainnet, "mainnet", 0},
		{"mainnet", lighter.Config{Deployment: "mainnet"}, nil, "https://mainnet.zklighter.elliot.ai", "mainnet", 0},
		{"testnet", lighter.Config{Deployment: "testnet"}, nil, "https://testnet.zklighter.elliot.ai", "testnet", 0},
		{"robinhood", lighter.Config{Deployment: "robinhood"}, nil, "https://api.rh.lighter.xyz", "robinhood", 281474976710654},
		{"any case", lighter.Config{Deployment: "RobinHood"}, nil, lighter.Robinhood, "robinhood", lighter.RobinhoodLLPIndex},
		{"from the environment", lighter.Config{}, map[string]string{"LIGHTER_DEPLOYMENT": "testnet"}, lighter.Testnet, "testnet", 0},
		// An API URL overrides the deployment's URL; its pinned LLP stays.
		{"URL overrides", lighter.Config{Deployment: "robinhood", APIURL: "http://127.0.0.1:9"}, nil, "http://127.0.0.1:9", "robinhood", lighter.RobinhoodLLPIndex},
		{"URL from the environment overrides", lighter.Config{}, map[string]string{"LIGHTER_DEPLOYMENT": "testnet", "LIGHTER_API_URL": "http://127.0.0.1:9"}, "http://127.0.0.1:9", "testnet", 0},
		// A deployment name as the API URL is that deployment.
		{"name as URL", lighter.Config{APIURL: "robinhood"}, nil, lighter.Robinhood, "robinhood", lighter.RobinhoodLLPIndex},
		{"name as URL, other deployment", lighter.Config{Deployment: "testnet", APIURL: "mainnet"}, nil, lighter.Mainnet, "testnet", 0},
		// A deployment's own URL, with no deployment named, is that
		// deployment: LIGHTER_API_URL=https://api.rh.lighter.xyz pins
		// robinhood's LLP as the original does.
		{"robinhood's URL", lighter.Config{APIURL: lighter.Robinhood}, nil, lighter.Robinhood, "robinhood", lighter.RobinhoodLLPIndex},
		{"robinhood's URL, any case, a slash", lighter.Config{APIURL: "HTTPS://API.RH.Lighter.xyz/"}, nil, "https://API.RH.Lighter.xyz/", "robinhood", lighter.RobinhoodLLPIndex},
		{"robinhood's URL from the environment", lighter.Config{}, map[string]string{"LIGHTER_API_URL": lighter.Robinhood}, lighter.Robinhood, "robinhood", lighter.RobinhoodLLPIndex},
		{"robinhood's URL with its port", lighter.Config{APIURL: lighter.Robinhood + ":443"}, nil, lighter.Robinhood + ":443", "robinhood", lighter.RobinhoodLLPIndex},
		{"testnet's URL", lighter.Config{APIURL: lighter.Testnet}, nil, lighter.Testnet, "testnet", 0},
		{"robinhood's URL, deployment named", lighter.Config{Deployment: "mainnet", APIURL: lighter.Robinhood}, nil, lighter.Robinhood, "mainnet", 0},
		{"robinhood's host on http is not robinhood", lighter.Config{APIURL: "http://api.rh.lighter.xyz"}, nil, "http://api.rh.lighter.xyz", "mainnet", 0},
		{"robinhood's host under a path is not robinhood", lighter.Config{APIURL: lighter.Robinhood + "/proxy"}, nil, lighter.Robinhood + "/proxy", "mainnet", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.cfg.WithEnv(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			cfg.RateLimitURL = "memory://"
			s, err := lighter.NewSession(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d := s.Deployment()
			if s.URL().String() != tc.wantURL || d.Name != tc.wantDep || d.LLPIndex != tc.wantLLP {
				t.Fatalf("URL %s, deployment %+v; want %s, %s, LLP %d", s.URL(), d, tc.wantURL, tc.wantDep, tc.wantLLP)
			}
			if want := "host:" + strings.ToLower(s.URL().Hostname()); s.URL().Port() == "9" && s.Key() != want+":9" ||
				s.URL().Port() != "9" && s.Key() != want {
				t.Fatalf("key %q, want %q (and the port if not the scheme's)", s.Key(), want)
			}
		})
	}
}

func TestDeploymentUnknown(t *testing.T) {
	_, err := lighter.NewSession(context.Background(), lighter.Config{Deployment: "moon", RateLimitURL: "memory://"})
	if !errors.Is(err, lighter.ErrInvalidConfig) || !strings.Contains(err.Error(), `"moon"`) || !strings.Contains(err.Error(), "robinhood") {
		t.Fatalf("error %v, want an invalid configuration naming moon and the deployments", err)
	}
	cfg, err := lighter.Config{}.WithEnv(env(map[string]string{"LIGHTER_DEPLOYMENT": "moon"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RateLimitURL = "memory://"
	if _, err := lighter.NewSession(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "LIGHTER_DEPLOYMENT") {
		t.Fatalf("error %v, want it to name LIGHTER_DEPLOYMENT", err)
	}
	if _, err := lighter.DeploymentByName("moon"); err == nil {
		t.Fatal("DeploymentByName(moon): no error")
	}
	// Deployments returns a copy.
	ds := lighter.Deployments()
	ds[0].APIURL = "http://changed"
	if lighter.Deployments()[0].APIURL != lighter.Mainnet {
		t.Fatal("Deployments returned a shared slice")
	}
}

// One API spelt differently (the host's case, the scheme's default port
// or none) is one rate-limit key: two processes so configured share one
// limit, where they had two and sent twice the rate between them.
func TestKeyIgnoresHostCaseAndDefaultPort(t *testing.T) {
	key := func(apiURL string) string {
		t.Helper()
		s, err := lighter.NewSession(context.Background(), lighter.Config{APIURL: apiURL, RateLimitURL: "memory://"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.Key()
	}
	for _, tc := range []struct {
		urls []string
		want string
	}{
		{[]string{"robinhood", lighter.Robinhood, "https://API.RH.Lighter.xyz/", "https://api.rh.lighter.xyz:443", "HTTPS://api.rh.LIGHTER.xyz:443/api"}, "host:api.rh.lighter.xyz"},
		{[]string{"http://LocalHost:8080", "http://localhost:8080/"}, "host:localhost:8080"},
		{[]string{"http://127.0.0.1", "http://127.0.0.1:80"}, "host:127.0.0.1"},
		{[]string{"http://[::1]:80", "http://[::1]"}, "host:[::1]"},
		{[]string{"http://[::1]:9"}, "host:[::1]:9"},
	} {
		for _, u := range tc.urls {
			if got := key(u); got != tc.want {
				t.Errorf("API URL %s: key %q, want %q", u, got, tc.want)
			}
		}
	}
}

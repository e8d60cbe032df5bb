package redact

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"memory://", "memory://"},
		{"sqlite:///var/lib/x.sqlite", "sqlite:///var/lib/x.sqlite"},
		{"redis://:pw@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://user:pw@host/0", "redis://xxxxx:xxxxx@host/0"},
		{"redis://user@host/0", "redis://xxxxx@host/0"},
		{"redis://:pa/ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://:pa#ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://:pa?ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://u:123/ss@host", "redis://xxxxx:xxxxx@host"},
		{"redis://:Zm9v/YmFy+cXV4@10.0.0.5:6379/0", "redis://:xxxxx@10.0.0.5:6379/0"},
		{"redis://us/er:pw@host", "redis://xxxxx:xxxxx@host"},
		{"redis://:p%zz@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://host:6379/0?password=s3cret&prefix=a", "redis://host:6379/0?password=xxxxx&prefix=a"},
		{"https://api/x?auth=tok&by=index#f", "https://api/x?auth=xxxxx&by=index#f"},
		{"https://api/x?Token=tok", "https://api/x?Token=xxxxx"},
		{":pw@host", ":xxxxx@host"},
		// url.URL.String drops the "//" of an empty authority.
		{"memory:?token=a@TopSecretPw", "memory:?token=xxxxx"},
		{"memory:?token=a@TopSecretPw&prefix=p", "memory:?token=xxxxx&prefix=p"},
		{"user:pw@host:6379", "user:xxxxx@host:6379"},
		{"redis:u:pw@host", "redis:xxxxx:xxxxx@host"},
		// A scheme-relative URL: "//" starts the authority.
		{"//:pw@host:6379/0", "//:xxxxx@host:6379/0"},
		{"//u:pw@h/x?token=tok", "//xxxxx:xxxxx@h/x?token=xxxxx"},
		{"//host/x", "//host/x"},
		// A query value or path holding '@' (issue 13).
		{"redis://127.0.0.1:1/0?password=a@TopSecretPw&bogus=1", "redis://127.0.0.1:1/0?password=xxxxx&bogus=1"},
		{"memory://?token=a@TopSecretPw", "memory://?token=xxxxx"},
		{"sqlite:///tmp/x.sqlite?password=a@TopSecretPw", "sqlite:///tmp/x.sqlite?password=xxxxx"},
		{"sqlite:///tmp/a@b/x.sqlite", "sqlite:///tmp/a@b/x.sqlite"},
		{"sqlite:///tmp/a@b/x.sqlite?busy_timeout=1s", "sqlite:///tmp/a@b/x.sqlite?busy_timeout=1s"},
		{"memory://?prefix=a@b", "memory://?prefix=a@b"},
		// Raw '#', '?', '&' and '@' in a credential value.
		{"redis://h:1/0?password=ab#cd?ef@gh&prefix=p", "redis://h:1/0?password=xxxxx&prefix=p"},
		{"redis://h:1/0?password=ab&cd&prefix=p", "redis://h:1/0?password=xxxxx&prefix=p"},
		{"redis://h:1/0?prefix=p&api_key=k1k2k3k4", "redis://h:1/0?prefix=p&api_key=xxxxx"},
		{"redis://h:1/0?pass%77ord=s3cr3t99", "redis://h:1/0?pass%77ord=xxxxx"},
		{"redis://h:1/0?sentinel_password=s3cr3t99", "redis://h:1/0?sentinel_password=xxxxx"},
		{"redis://h:1/0?client_secret=s3cr3t99", "redis://h:1/0?client_secret=xxxxx"},
		// '@' in the password, and a password shaped like a URL.
		{"redis://:a@b@host:1/0", "redis://:xxxxx@host:1/0"},
		{"redis://:a@b/c?d#e@host:1/0?prefix=p", "redis://:xxxxx@host:1/0?prefix=p"},
		{"redis+cluster://:s3cr3t99@h1:1,h2:2/?addr=h3:3", "redis+cluster://:xxxxx@h1:1,h2:2/?addr=h3:3"},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestURL(t *testing.T) {
	u, _ := url.Parse("https://me:pw@api.example/x?auth=tok")
	if got := URL(u); strings.Contains(got, "pw") || strings.Contains(got, "tok") {
		t.Fatalf("URL() = %q shows a secret", got)
	}
	if URL(nil) != "" {
		t.Fatal("URL(nil) not empty")
	}
	for in, want := range map[string]string{
		// A path holding '@' after a port is kept (String masks it).
		"http://127.0.0.1:8080/users/@me?by=x":                 "http://127.0.0.1:8080/users/@me?by=x",
		"http://127.0.0.1:8080/u/@me?token=abc#access_token=d": "http://127.0.0.1:8080/u/@me?token=xxxxx#access_token=xxxxx",
		"https://user:p%40ss@h/x":                              "https://xxxxx:xxxxx@h/x",
		"https://:p%2Fss@h/x":                                  "https://:xxxxx@h/x",
		"https://tok3n@h/x":                                    "https://xxxxx@h/x",
		"https://h/x#frag":                                     "https://h/x#frag",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(u); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasCredentials(t *testing.T) {
	for raw, want := range map[string]bool{
		"redis://host/0": false, "redis://:p@host/0": true, "redis://host/0?password=x": true, "memory://": false,
	} {
		if got := HasCredentials(raw); got != want {
			t.Errorf("HasCredentials(%q) = %v", raw, got)
		}
	}
}

func TestSecrets(t *testing.T) {
	got := Secrets("redis://us%2Fer:p%40ss word@host/0?token=t%26k1&prefix=p")
	for _, want := range []string{"us%2Fer", "us/er", "p%40ss word", "p@ss word", "p%40ss+word", "p%40ss%20word",
		"t%26k1", "t&k1", "%74%26%6B%31", "%74%26%6b%31"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets() = %q, missing %q", got, want)
		}
	}
	for _, s := range got {
		if s == "prefix" || s == "p" || s == "host" {
			t.Errorf("Secrets() holds %q, not a secret", s)
		}
	}
}

func TestError(t *testing.T) {
	sentinel := errors.New("sentinel")
	err := fmt.Errorf("dial with hunter22: %w", sentinel)
	got := Error(err, Forms("hunter22"))
	if strings.Contains(got.Error(), "hunter22") || !errors.Is(got, sentinel) || errors.Unwrap(got) != nil {
		t.Fatalf("Error() = %v (Is sentinel %v, Unwrap %v): want masked, matching, not unwrapping",
			got, errors.Is(got, sentinel), errors.Unwrap(got))
	}
	if Error(sentinel, Forms("hunter22")) != sentinel || Error(nil, nil) != nil {
		t.Fatal("Error() changed an error without secrets")
	}
}

func TestIsSecretParam(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "PASSWORD": true, "sentinel_password": true, "api_key": true, "apiKey": true,
		"X-Auth-Token": true, "key": true, "pass%77ord": true, "prefix": false, "timeout": false, "addr": false,
		"db": false, "on_failure": false, "busy_timeout": false,
	} {
		if got := IsSecretParam(name); got != want {
			t.Errorf("IsSecretParam(%q) = %v, want %v", name, got, want)
		}
	}
}

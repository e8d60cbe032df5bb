package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"memory://", "memory://"},
		{"sqlite:///var/lib/x.sqlite", "sqlite:///var/lib/x.sqlite"},
		{"redis://:pw@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://user:pw@host/0", "redis://user:xxxxx@host/0"},
		{"redis://user@host/0", "redis://user@host/0"},
		{"redis://:pa/ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://:pa#ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://:pa?ss@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://u:123/ss@host", "redis://u:xxxxx@host"},
		{"redis://:Zm9v/YmFy+cXV4@10.0.0.5:6379/0", "redis://:xxxxx@10.0.0.5:6379/0"},
		{"redis://us/er:pw@host", "redis://xxxxx@host"},
		{"redis://:p%zz@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://host:6379/0?password=s3cret&prefix=a", "redis://host:6379/0?password=xxxxx&prefix=a"},
		{"https://api/x?auth=tok&by=index#f", "https://api/x?auth=xxxxx&by=index#f"},
		{"https://api/x?Token=tok", "https://api/x?Token=xxxxx"},
		{":pw@host", ":xxxxx@host"},
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

package urlopt

import (
	"net/url"
	"strings"
	"testing"
)

func TestUnknownOptionListsAccepted(t *testing.T) {
	u, _ := url.Parse("x://:secret@h/?prefix=a&zzz=1")
	err := Check(u, "prefix", "timeout")
	if err == nil || !strings.Contains(err.Error(), `unknown option "zzz"`) || !strings.Contains(err.Error(), "accepted: prefix, timeout") {
		t.Fatalf("Check: %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("Check shows the password: %v", err)
	}
	if err := Check(u, "prefix", "zzz"); err != nil {
		t.Fatalf("Check with all accepted: %v", err)
	}
}

func TestOptionGivenTwice(t *testing.T) {
	u, _ := url.Parse("x://:secret@h/?cleanup_interval=1h&cleanup_interval=2s&prefix=a")
	err := Check(u, "prefix", "cleanup_interval")
	if err == nil || !strings.Contains(err.Error(), "option cleanup_interval given 2 times") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Check of an option given twice: %v, want an error naming it, without the password", err)
	}
	if err := Once("x", url.Values{"addr": {"a", "b"}, "prefix": {"p"}}, "prefix"); err != nil {
		t.Fatalf("Once of options given once (addr, not named, twice): %v", err)
	}
}

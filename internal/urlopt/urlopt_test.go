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

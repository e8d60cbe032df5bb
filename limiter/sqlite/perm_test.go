package sqlite_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharedlimit/sharedlimit/limiter/sqlite"
)

const envReadOnly = "SHAREDLIMIT_SQLITE_READONLY_PATH"

// nobody is the unprivileged user the root test runs its child as.
const nobody = 65534

// TestOpenNotWritable: a file without write permission fails in New with
// an error that says so. Root may write anything, so as root the check
// runs in a child process with the uid of nobody.
func TestOpenNotWritable(t *testing.T) {
	if path := os.Getenv(envReadOnly); path != "" {
		checkNotWritable(t, path)
		return
	}
	dir := t.TempDir()
	if os.Getuid() == 0 {
		// t.TempDir is private to root: make a folder nobody may enter,
		// with a copy of this test binary in it.
		var err error
		if dir, err = os.MkdirTemp("", "sqlite-readonly-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "rate-limit.sqlite")
	l, err := sqlite.New(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		checkNotWritable(t, path)
		return
	}
	bin := filepath.Join(dir, "sqlite.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestOpenNotWritable$", "-test.count=1", "-test.v=true")
	cmd.Env = append(os.Environ(), envReadOnly+"="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("cannot run a child as uid %d to check a file without write permission: %v", nobody, err)
		}
		t.Fatalf("child as uid %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child as uid %d did not pass:\n%s", nobody, out)
	}
	t.Logf("child as uid %d:\n%s", nobody, out)
}

func checkNotWritable(t *testing.T, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := sqlite.New(ctx, path)
	if err == nil {
		l.Close()
		t.Fatalf("New(%q) on a file without write permission (uid %d) succeeded", path, os.Getuid())
	}
	if !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("New(%q): %v; want an error saying the file is not writable", path, err)
	}
	t.Logf("uid %d: %v", os.Getuid(), err)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

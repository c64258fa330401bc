// Package testpeer starts the real peers that vedetta's tests talk to
// (Mailpit, snmpd, snmpsimd, upsd...) on 127.0.0.1, each on its own free
// port, and stops them when the test ends.
//
// A peer that is not installed skips the test on a developer's machine,
// but fails it under CI=true: in CI a missing peer is a broken set-up, never
// a reason to pass.
package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Need finds an executable peer or stops the test (see package doc).
func Need(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if filepath.IsAbs(n) {
			if fi, err := os.Stat(n); err == nil && !fi.IsDir() {
				return n
			}
		}
	}
	Missing(t, fmt.Sprintf("peer %v is not installed (.ci/run installs it)", names))
	return ""
}

// Missing skips outside CI and fails under CI=true.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", why)
	}
	t.Skipf("%s (set CI=true to make this a failure)", why)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Addr formats 127.0.0.1:port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// WaitFor polls cond every 25 ms until it is true or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// SharedTestdata returns ../shared/testdata seen from the repository root
// (the recordings of real devices the tests read, never copied).
func SharedTestdata(t testing.TB, sub ...string) string {
	t.Helper()
	root := RepoRoot(t)
	p := filepath.Join(append([]string{root, "..", "shared", "testdata"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared test data not found at "+p)
	}
	return p
}

// RepoRoot is the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

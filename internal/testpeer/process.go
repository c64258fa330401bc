package testpeer

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a peer process whose output is kept for failure reports.
type Proc struct {
	Cmd  *exec.Cmd
	out  Buffer
	done chan struct{}
}

// Buffer collects output or logs from several goroutines at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) Write(b []byte) (int, error) { return p.out.Write(b) }

// Output returns what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Start runs name args in the background; the process is stopped (SIGTERM,
// then SIGKILL after 5 s) when the test ends, and its output is logged if
// the test failed.
func Start(t testing.TB, env []string, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{}
	p.Cmd = exec.Command(name, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p, p
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func() { _ = p.Cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.Output())
		}
	})
	return p
}

// WaitSnmpsimd waits until snmpsimd p says it listens at addr. A query
// answered on that port is not proof: snmpsimd binds with address reuse,
// so another test's snmpsimd, about to stop, may hold the same port while
// this one is still starting (seen under load: ready, then "port
// unreachable").
func WaitSnmpsimd(t testing.TB, p *Proc, addr string) {
	t.Helper()
	WaitFor(t, 90*time.Second, "snmpsimd listening at "+addr, func() bool {
		if p.Exited() {
			t.Fatalf("snmpsimd exited before listening at %s:\n%s", addr, p.Output())
		}
		return strings.Contains(p.Output(), "Listening at UDP/IPv4 endpoint "+addr)
	})
}

// RewriteSnmprec replaces a recording snmpsimd serves, so that it re-reads
// it: snmpsimd compares modification times in whole seconds (os.stat's
// st_mtime), against the file's previous time and its index's, so a
// rewrite within the same second is never seen. The new time is set two
// whole seconds ahead of now, and past the file's previous time.
func RewriteSnmprec(t testing.TB, path string, content []byte) {
	t.Helper()
	next := time.Now().Add(2 * time.Second).Truncate(time.Second)
	if st, err := os.Stat(path); err == nil && !next.After(st.ModTime()) {
		next = st.ModTime().Truncate(time.Second).Add(time.Second) // a second rewrite soon after the first
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

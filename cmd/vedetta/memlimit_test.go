package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// The cgroup v2 memory.max of this process, read as the kernel lays it
// out: /proc/self/cgroup names the cgroup, each level may have a
// memory.max ("max" or bytes), the tightest one binds.
func TestCgroupMemoryMax(t *testing.T) {
	const svc = "system.slice/vedetta.service"
	for _, c := range []struct {
		name     string
		cgroup   string            // /proc/self/cgroup; "" : the file is missing
		files    map[string]string // memory.max contents by cgroup folder
		want     int64
		wantFrom string // folder of the memory.max the limit came from
		bad      bool
	}{
		{"service limit", "0::/" + svc + "\n", map[string]string{svc: "536870912\n", "system.slice": "max\n"}, 512 << 20, svc, false},
		{"max everywhere", "0::/" + svc + "\n", map[string]string{svc: "max\n", "system.slice": "max\n"}, 0, "", false},
		{"slice is tighter", "0::/" + svc + "\n", map[string]string{svc: "2147483648\n", "system.slice": "1073741824\n"}, 1 << 30, "system.slice", false},
		{"no memory.max files (hybrid, v1 memory controller)", "0::/" + svc + "\n", nil, 0, "", false},
		{"container: cgroup namespace root", "0::/\n", map[string]string{"": "268435456\n"}, 256 << 20, "", false},
		{"cgroup v1 only", "4:memory:/docker/abc\n1:cpu:/\n", map[string]string{"": "268435456\n"}, 0, "", false},
		{"no /proc/self/cgroup", "", nil, 0, "", false},
		{"hybrid lines before the unified one", "4:memory:/x\n0::/" + svc + "\n", map[string]string{svc: "104857600\n"}, 100 << 20, svc, false},
		{"garbage", "0::/" + svc + "\n", map[string]string{svc: "lots\n"}, 0, "", true},
		{"negative", "0::/" + svc + "\n", map[string]string{svc: "-1\n"}, 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "sys", "fs", "cgroup")
			if err := os.MkdirAll(filepath.Join(root, svc), 0o755); err != nil {
				t.Fatal(err)
			}
			for d, content := range c.files {
				if err := os.WriteFile(filepath.Join(root, d, "memory.max"), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			proc := filepath.Join(dir, "cgroup")
			if c.cgroup != "" {
				if err := os.WriteFile(proc, []byte(c.cgroup), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, from, err := cgroupMemoryMax(proc, root)
			if (err != nil) != c.bad || got != c.want {
				t.Fatalf("got %d from %q, error %v; want %d, error %v", got, from, err, c.want, c.bad)
			}
			if c.want > 0 && from != filepath.Join(root, c.wantFrom, "memory.max") {
				t.Errorf("limit from %s, want %s", from, filepath.Join(root, c.wantFrom, "memory.max"))
			}
		})
	}
}

// GOMEMLIMIT in the environment is never overridden; memory_limit comes
// before the cgroup; the cgroup's limit is taken at 80 %.
func TestChooseMemoryLimit(t *testing.T) {
	cg := func(n int64, err error) func() (int64, string, error) {
		return func() (int64, string, error) { return n, "/sys/fs/cgroup/x/memory.max", err }
	}
	broken := errors.New("permission denied")
	for _, c := range []struct {
		name       string
		env        string
		configured int64
		cgroup     func() (int64, string, error)
		want       int64
		source     string
		err        bool
	}{
		{"env wins over all", "300MiB", 1 << 30, cg(1<<30, nil), 0, "GOMEMLIMIT", false},
		{"config over cgroup", "", 700 << 20, cg(1<<30, nil), 700 << 20, "memory_limit", false},
		{"cgroup at 80 %", "", 0, cg(1000<<20, nil), 800 << 20, "/sys/fs/cgroup/x/memory.max × 0.8", false},
		{"no limit anywhere", "", 0, cg(0, nil), 0, "", false},
		{"cgroup unreadable", "", 0, cg(0, broken), 0, "", true},
		{"blank env is not set", "  ", 0, cg(1000<<20, nil), 800 << 20, "/sys/fs/cgroup/x/memory.max × 0.8", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, source, err := chooseMemoryLimit(c.env, c.configured, c.cgroup)
			if got != c.want || source != c.source || (err != nil) != c.err {
				t.Errorf("got %d, %q, %v; want %d, %q, error %v", got, source, err, c.want, c.source, c.err)
			}
		})
	}
}

// memory_limit is applied to the runtime and logged once, with its source.
func TestSetMemoryLimitAppliesAndLogs(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	var b bytes.Buffer
	setMemoryLimit(slog.New(slog.NewTextHandler(&b, nil)), &config.Config{MemoryLimit: "123MiB"})
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("runtime limit %d, want %d", got, 123<<20)
	}
	if n := strings.Count(b.String(), "soft memory limit"); n != 1 || !strings.Contains(b.String(), "limit_bytes=128974848 source=memory_limit") {
		t.Errorf("log:\n%s", b.String())
	}
}

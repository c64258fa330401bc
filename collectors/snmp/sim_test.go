package snmp

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// startSimd serves recordings (file names without .snmprec; all of them
// when none is given) with a real snmpsimd on a free loopback port and
// returns its address. The recordings are copied, at test time, to a
// folder user nobody can read (snmpsimd drops to nobody when run as root);
// they are never modified.
func startSimd(t testing.TB, dataDir string, names ...string) (addr string, communities []string) {
	t.Helper()
	bin := testpeer.Need(t, "snmpsimd", "/usr/bin/snmpsimd")
	src := testpeer.SharedTestdata(t, "snmprec")
	if len(names) == 0 {
		files, _ := filepath.Glob(filepath.Join(src, "*.snmprec"))
		for _, f := range files {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".snmprec"))
		}
	}
	root, err := os.MkdirTemp("", "vedetta-snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	data, cache := filepath.Join(root, "data"), filepath.Join(root, "cache")
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(root, 0o755)
	_ = os.Chmod(cache, 0o777)
	for _, n := range names {
		from := filepath.Join(src, n+".snmprec")
		if dataDir != "" {
			if _, err := os.Stat(filepath.Join(dataDir, n+".snmprec")); err == nil {
				from = filepath.Join(dataDir, n+".snmprec")
			}
		}
		copyFile(t, from, filepath.Join(data, n+".snmprec"))
	}
	port := testpeer.FreeUDPPort(t)
	addr = testpeer.Addr(port)
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr,
		"--v3-user=simv3", "--v3-auth-key=authpass123", "--v3-auth-proto=SHA", "--v3-priv-key=privpass123", "--v3-priv-proto=AES"}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)
	// Ready when it answers the first community.
	probe := Agent{Address: addr, Community: secret(names[0]), Timeout: 200 * time.Millisecond}
	if err := probe.Validate(); err != nil {
		t.Fatal(err)
	}
	zero := 0
	probe.Retries = &zero
	testpeer.WaitFor(t, 60*time.Second, "snmpsimd ready", func() bool {
		c, err := dial(&probe)
		if err != nil {
			return false
		}
		defer c.close()
		_, err = c.get(context.Background(), []string{"1.3.6.1.2.1.1.1.0"})
		return err == nil
	})
	return addr, names
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

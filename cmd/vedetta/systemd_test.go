package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// The shipped unit must lint clean and stay hardened.
func TestSystemdUnit(t *testing.T) {
	analyze := testpeer.Need(t, "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join(testpeer.RepoRoot(t), "systemd", "vedetta.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
		"StateDirectory=vedetta", "User=vedetta\n", "Group=vedetta\n", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
		"PrivateTmp=yes", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	// A dynamic user cannot read the package's root:vedetta 0640 config.
	if strings.Contains(string(unit), "DynamicUser=") {
		t.Errorf("unit sets DynamicUser=: the packaged config is readable by group vedetta only")
	}
	// verify needs ExecStart to exist: lint a copy pointing at a real binary.
	dir := t.TempDir()
	p := filepath.Join(dir, "vedetta.service")
	text := strings.ReplaceAll(string(unit), "/usr/bin/vedetta", vedettaBin(t))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on unknown keys and bad values (it only prints): any
	// output at all is a failure.
	out, err := exec.Command(analyze, "verify", "--man=no", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", p).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for vedetta.service: ([0-9.]+) (\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("exposure %.1f %s", level, m[2])
	if level > 2.0 {
		t.Errorf("exposure %.1f %s: the unit lost hardening", level, m[2])
	}
}

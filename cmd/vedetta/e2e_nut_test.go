package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// startUPSD runs a real upsd with one dummy-ups driver named ups serving
// a copy of dump (RIG.md section 4); it returns upsd's address and the env
// the NUT clients need.
func startUPSD(t *testing.T, ups, dump string) (addr string, env []string) {
	t.Helper()
	upsd := testpeer.Need(t, "/lib/nut/upsd", "/usr/lib/nut/upsd", "/usr/sbin/upsd")
	dummy := testpeer.Need(t, "/lib/nut/dummy-ups", "/usr/lib/nut/dummy-ups")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	etc, state := filepath.Join(dir, "etc"), filepath.Join(dir, "state")
	for _, d := range []string{etc, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	port := testpeer.FreePort(t)
	files := map[string]string{
		"ups.dev":    string(b),
		"ups.conf":   fmt.Sprintf("[%s]\n  driver = dummy-ups\n  port = ups.dev\n  pollinterval = 1\n", ups),
		"upsd.conf":  fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port),
		"upsd.users": "[admin]\n  password = adminpass\n  actions = SET\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	env = []string{"NUT_CONFPATH=" + etc, "NUT_STATEPATH=" + state, "NUT_ALTPIDPATH=" + state}
	drv := testpeer.Start(t, env, dummy, "-a", ups, "-u", u.Username, "-F")
	testpeer.WaitFor(t, 15*time.Second, "dummy-ups socket", func() bool {
		_, err := os.Stat(filepath.Join(state, "dummy-ups-"+ups))
		return err == nil
	})
	d := testpeer.Start(t, env, upsd, "-u", u.Username, "-F")
	// upsd and dummy-ups take ~2 s each to stop on SIGTERM; nothing to save.
	t.Cleanup(func() {
		_ = syscall.Kill(-d.Cmd.Process.Pid, syscall.SIGKILL)
		_ = syscall.Kill(-drv.Cmd.Process.Pid, syscall.SIGKILL)
	})
	return testpeer.Addr(port), env
}

func upsrw(t *testing.T, env []string, ups, addr, set string) {
	t.Helper()
	bin := testpeer.Need(t, "upsrw", "/usr/bin/upsrw")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-s", set, "-u", "admin", "-p", "adminpass", "-w", ups+"@"+addr)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upsrw -s %s: %v\n%s", set, err, out)
	}
}

// TestE2ENUTOnBatteryLowEmail: a real upsd serves a real UPS dump; the
// daemon polls it with kind: nut and the shipped rules
// (configs/rules.d/nut.yaml). Flipping the UPS to "OB LB" sends the
// UPSOnBattery and UPSBatteryLow e-mails; back to "OL" resolves them.
func TestE2ENUTOnBatteryLowEmail(t *testing.T) {
	t.Parallel()
	dump := filepath.Join(testpeer.SharedTestdata(t, "nut"), "Eaton__9PX__snmp-ups__2.7.4__01.dev")
	addr, env := startUPSD(t, "rack1", dump)
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	rules := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "nut.yaml")
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: rack-ups
    kind: nut
    interval: 1s
    nut: {address: %q, ups: rack1}
rule_files: [%q]
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - %s
receivers:
  - name: facilities
    email: [facilities@e2e.example]
routes:
  - receivers: [facilities]
`, filepath.Join(dir, "state"), httpPort, addr, rules, relay(mp.SMTPPort))
	cfgPath := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfgPath, cfg)
	d := startDaemon(t, cfgPath, httpPort)

	testpeer.WaitFor(t, 20*time.Second, "the UPS on line in /metrics", func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, `ups_on_battery{class="nut",target="rack-ups",ups="rack1"} 0`)
	})
	upsrw(t, env, "rack1", addr, "ups.status=OB LB")
	testpeer.WaitFor(t, 15*time.Second, "the on-battery and battery-low e-mails", func() bool {
		return len(mp.Matching(t, "FIRING", "UPSOnBattery")) > 0 && len(mp.Matching(t, "FIRING", "UPSBatteryLow")) > 0
	})
	msg := mp.Matching(t, "FIRING", "UPSBatteryLow")[0]
	if body := mp.Text(t, msg.ID); !strings.Contains(body, "rack1 on rack-ups: battery low") {
		t.Errorf("battery-low e-mail does not name the UPS:\n%s", body)
	}
	if len(msg.To) != 1 || msg.To[0].Address != "facilities@e2e.example" {
		t.Errorf("e-mail to %v", msg.To)
	}

	upsrw(t, env, "rack1", addr, "ups.status=OL")
	testpeer.WaitFor(t, 15*time.Second, "the resolved e-mails", func() bool {
		return len(mp.Matching(t, "RESOLVED", "UPSOnBattery")) > 0 && len(mp.Matching(t, "RESOLVED", "UPSBatteryLow")) > 0
	})
	if n := len(mp.Matching(t, "FIRING", "UPSOnBattery")); n != 1 {
		t.Errorf("%d on-battery e-mails, want 1", n)
	}
}

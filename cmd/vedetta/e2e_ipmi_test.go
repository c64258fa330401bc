package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestE2EIPMIPSUFailedAndBMCGone: the daemon polls a real BMC
// implementation (OpenIPMI's ipmi_sim over RMCP+) with kind: ipmi and the
// shipped rules (configs/rules.d/servers.yaml). A supply failed through
// the simulator's console raises ServerPSUFailed (e-mailed, naming the
// supply) and server_psu_redundancy_ok 0 within two intervals; repaired,
// both resolve. Two more targets never answer: one on a port nobody
// serves, one with a wrong password; and finally the BMC is killed. Each
// is TargetUnreachable, and the collection error the daemon logs names
// the cause.
func TestE2EIPMIPSUFailedAndBMCGone(t *testing.T) {
	t.Parallel()
	sim := testpeer.StartIPMISim(t)
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "bmc.pass")
	if err := os.WriteFile(pwFile, []byte(sim.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	silent := testpeer.Addr(testpeer.FreeUDPPort(t))
	httpPort := testpeer.FreePort(t)
	const interval = 2 * time.Second
	rules := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "servers.yaml")
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: srv1
    kind: ipmi
    class: server
    interval: %v
    timeout: 1800ms
    ipmi: {address: %q, username: %s, password_file: %q}
  - name: ghost
    kind: ipmi
    interval: %v
    timeout: 1500ms
    ipmi: {address: %q, username: admin, password: x}
  - name: srv1-badpass
    kind: ipmi
    interval: %v
    timeout: 1800ms
    ipmi: {address: %q, username: %s, password: "${VEDETTA_E2E_BMC_PASSWORD}"}
rule_files: [%q]
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - %s
receivers:
  - name: servers
    email: [servers@e2e.example]
routes:
  - receivers: [servers]
`, filepath.Join(dir, "state"), httpPort, interval, sim.Addr, sim.User, pwFile,
		interval, silent, interval, sim.Addr, sim.User, rules, relay(mp.SMTPPort))
	cfgPath := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfgPath, cfg)
	const badPassword = "not-the-bmc-password"
	d := startDaemon(t, cfgPath, httpPort, "VEDETTA_E2E_BMC_PASSWORD="+badPassword)

	metric := func(line string) func() bool {
		return func() bool {
			_, m := d.get("/metrics")
			return strings.Contains(m, line)
		}
	}
	testpeer.WaitFor(t, 20*time.Second, "srv1's supplies ok in /metrics",
		metric(`server_psu_ok{class="server",psu="PSU1 Status",target="srv1"} 1`))
	if s := d.alertState("ServerPSUFailed"); s != "" {
		t.Fatalf("ServerPSUFailed is %s on a healthy server", s)
	}

	failed := time.Now()
	sim.SetPSU(t, testpeer.SimPSU1, true)
	testpeer.WaitFor(t, 2*interval+time.Second, "ServerPSUFailed firing and server_psu_redundancy_ok 0 within two intervals", func() bool {
		return d.alertState("ServerPSUFailed") == "firing" &&
			metric(`server_psu_redundancy_ok{class="server",target="srv1"} 0`)()
	})
	t.Logf("ServerPSUFailed firing %v after the supply failed (interval %v)", time.Since(failed).Round(10*time.Millisecond), interval)
	if s := d.alertState("ServerPSURedundancyLost"); s != "firing" {
		t.Errorf("ServerPSURedundancyLost is %q, want firing", s)
	}
	testpeer.WaitFor(t, 15*time.Second, "the ServerPSUFailed e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "ServerPSUFailed")) > 0
	})
	msg := mp.Matching(t, "FIRING", "ServerPSUFailed")[0]
	if body := mp.Text(t, msg.ID); !strings.Contains(body, "PSU1 Status on srv1 has failed") {
		t.Errorf("the e-mail does not name the supply:\n%s", body)
	}

	sim.SetPSU(t, testpeer.SimPSU1, false)
	testpeer.WaitFor(t, 15*time.Second, "ServerPSUFailed resolved", func() bool {
		return d.alertState("ServerPSUFailed") == "resolved" && d.alertState("ServerPSURedundancyLost") == "resolved"
	})

	// The targets that never answered, then the BMC killed: each is
	// TargetUnreachable, its message and the collection error say why.
	unreachable := func(target, cause string) {
		t.Helper()
		testpeer.WaitFor(t, 30*time.Second, target+" TargetUnreachable", func() bool {
			for _, a := range d.alerts() {
				if a.Rule == "TargetUnreachable" && a.Labels["target"] == target && a.State == "firing" {
					t.Logf("%s: %s", target, a.Summary)
					// The page says why, not only that it failed.
					return strings.Contains(a.Summary, cause)
				}
			}
			return false
		})
		if !logged(d.proc.Output(), target, cause) {
			t.Errorf("no collection error for %s naming %q in the daemon's log", target, cause)
		}
	}
	unreachable("ghost", "ipmi "+silent+": no answer within")
	unreachable("srv1-badpass", "ipmi "+sim.Addr+": authentication failed (wrong password)")
	sim.Kill(t)
	unreachable("srv1", "ipmi "+sim.Addr+": no answer within 1.")

	out := d.proc.Output()
	if strings.Contains(out, badPassword) || strings.Contains(out, sim.Password) {
		t.Error("a BMC password is in the daemon's log")
	}
}

// logged reports whether the daemon logged a failed collection of target
// whose error contains cause.
func logged(out, target, cause string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "collection failed") && strings.Contains(line, "target="+target+" ") && strings.Contains(line, cause) {
			return true
		}
	}
	return false
}

// TestCheckIPMIBlock: a mistake in an ipmi: block is reported by
// `vedetta check` with file, line and field.
func TestCheckIPMIBlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.yaml")
	writeFile(t, p, `site: x
targets:
  - name: bmc
    kind: ipmi
    ipmi:
      address: 10.0.0.1
      interface: lanplus2
`)
	code, _, errs := runCLI(t, "check", "--config", p)
	if want := p + `:7: targets[0].ipmi.interface: "lanplus2" is not one of lanplus, lan`; code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, output\n  %s\nwant\n  %s", code, errs, want)
	}
}

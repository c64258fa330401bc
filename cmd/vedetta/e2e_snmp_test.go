package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// A UPS served by snmpd goes on battery (snmpset) and sends an on-battery
// trap: the trap makes vedetta poll it at once, so ups_on_battery == 1 fires
// and the e-mail reaches Mailpit long before the next poll (60 s).
func TestE2ESNMPTrapFiresBeforeNextPoll(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "snmptrap")
	ups := testpeer.StartSnmpdUPS(t)
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	trapAddr := testpeer.Addr(testpeer.FreeUDPPort(t))
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: ups1
    kind: snmp
    class: ups
    interval: 60s
    timeout: 5s
    snmp: {address: "%s", community: public, timeout: 1s}
    profiles: [auto]
traps:
  listen: %s
  communities: [public]
rules:
  - name: UpsOnBatteryE2E
    expr: ups_on_battery == 1
    severity: critical
    summary: "{{ .Labels.target }} runs on battery"
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: 127.0.0.1, port: %d, tls: none}
receivers:
  - name: noc
    email: [noc@e2e.example]
routes:
  - receivers: [noc]
`, filepath.Join(dir, "state"), httpPort, ups, trapAddr, mp.SMTPPort)
	path := filepath.Join(dir, "vedetta.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, httpPort)
	testpeer.WaitFor(t, 10*time.Second, "the first poll of ups1", func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, `ups_on_battery{class="ups",target="ups1"} 0`)
	})

	// Mains fails: the UPS switches to battery and says so with a trap.
	if out, err := exec.Command("snmpset", "-v2c", "-c", "private", "-On", ups, "1.3.6.1.2.1.33.1.4.1.0", "i", "5").CombinedOutput(); err != nil {
		t.Fatalf("snmpset: %v\n%s", err, out)
	}
	sent := time.Now()
	if out, err := exec.Command("snmptrap", "-v2c", "-c", "public", "-On", trapAddr, "", "1.3.6.1.2.1.33.2.0.1",
		"1.3.6.1.2.1.33.1.2.2.0", "i", "1").CombinedOutput(); err != nil {
		t.Fatalf("snmptrap: %v\n%s", err, out)
	}
	testpeer.WaitFor(t, 10*time.Second, "the firing e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "UpsOnBatteryE2E")) > 0
	})
	took := time.Since(sent)
	t.Logf("trap to e-mail: %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the alarm took %v: the trap did not trigger a poll", took)
	}
	if got := d.alertState("UpsOnBatteryE2E"); got != "firing" {
		t.Errorf("API state = %q, want firing", got)
	}
	_, m := d.get("/metrics")
	if !strings.Contains(m, `snmp_trap_received_total{class="ups",target="ups1",trap="upsTrapOnBattery"`) {
		t.Errorf("/metrics lacks the trap counter:\n%s", grepLines(m, "snmp_trap"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

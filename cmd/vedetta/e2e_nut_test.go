package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestE2ENUTOnBatteryLowEmail: a real upsd serves a real UPS dump; the
// daemon polls it with kind: nut and the shipped rules
// (configs/rules.d/nut.yaml). Flipping the UPS to "OB LB" sends the
// UPSOnBattery and UPSBatteryLow e-mails; back to "OL" resolves them.
func TestE2ENUTOnBatteryLowEmail(t *testing.T) {
	t.Parallel()
	dump := filepath.Join(testpeer.SharedTestdata(t, "nut"), "Eaton__9PX__snmp-ups__2.7.4__01.dev")
	upsd := testpeer.StartUPSD(t, map[string]string{"rack1": dump})
	addr := upsd.Addr
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
	upsd.Set(t, "rack1", "ups.status=OB LB")
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

	upsd.Set(t, "rack1", "ups.status=OL")
	testpeer.WaitFor(t, 15*time.Second, "the resolved e-mails", func() bool {
		return len(mp.Matching(t, "RESOLVED", "UPSOnBattery")) > 0 && len(mp.Matching(t, "RESOLVED", "UPSBatteryLow")) > 0
	})
	if n := len(mp.Matching(t, "FIRING", "UPSOnBattery")); n != 1 {
		t.Errorf("%d on-battery e-mails, want 1", n)
	}
}

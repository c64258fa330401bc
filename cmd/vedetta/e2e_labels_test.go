package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// A trap-triggered sample carries its target's labels: as a polled one
// does (collectors.TargetLabels.Label); a sender no target has gets target
// snmp_traps_unknown_sender, class snmp_traps and nothing else.
func TestTrapSamplesCarryTargetLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, fmt.Sprintf(`site: unit
state_dir: %s
targets:
  - name: ups1
    kind: snmp
    class: ups
    labels: {room: r101, rack: a12}
    snmp: {address: 192.0.2.10, community: public}
    profiles: [ups-mib]
  - name: rack1
    kind: exec
    labels: {room: r999}
    exec: {command: [cat, x.prom], format: prometheus}
traps:
  listen: 127.0.0.1:0
  communities: [public]
`, filepath.Join(dir, "state")))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	hosts, label := trapTargets(cfg)
	if len(hosts) != 1 || hosts["192.0.2.10"] != "ups1" {
		t.Fatalf("hosts %v, want only 192.0.2.10 → ups1", hosts)
	}
	cases := []struct {
		target string
		in     model.Labels
		want   string
	}{
		{"ups1", model.L("trap", "upsTrapOnBattery", "trap_oid", "1.3.6.1.2.1.33.2.0.1"),
			`{class="ups",rack="a12",room="r101",target="ups1",trap="upsTrapOnBattery",trap_oid="1.3.6.1.2.1.33.2.0.1"}`},
		{"ups1", model.L("room", "r999", "target", "other", "trap", "coldStart"),
			`{class="ups",exported_room="r999",exported_target="other",rack="a12",room="r101",target="ups1",trap="coldStart"}`},
		{snmp.UnknownSender, model.L("source", "192.0.2.99", "trap", "coldStart"),
			`{class="snmp_traps",source="192.0.2.99",target="snmp_traps_unknown_sender",trap="coldStart"}`},
	}
	for _, c := range cases {
		b := model.Batch{Target: c.target, Samples: []model.Sample{{Name: "snmp_trap_received_total", Labels: c.in, Value: 1}}}
		label(b)
		if got := b.Samples[0].Labels.String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.target, got, c.want)
		}
	}
}

// An on-battery trap (net-snmp's snmptrap) from a UPS whose target has
// labels: {room: r101} raises an alarm that carries room="r101" and is
// caught by the route matching room: r101: the e-mail reaches that route's
// receiver, not the catch-all. The same trap from a sender no target has
// goes to the catch-all. (Trap samples used to carry only target and
// class, so the room route missed every trap alarm.)
func TestE2ETrapAlarmCarriesTargetLabelsAndIsRouted(t *testing.T) {
	t.Parallel()
	snmptrap := testpeer.Need(t, "snmptrap")
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	trapAddr := testpeer.Addr(testpeer.FreeUDPPort(t))
	// Nobody answers the UPS's polls: only the trap can raise the alarm.
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: ups1
    kind: snmp
    class: ups
    interval: 60s
    labels: {room: r101}
    snmp: {address: "%s", community: public, timeout: 300ms, retries: 0}
    profiles: [ups-mib]
traps:
  listen: %s
  communities: [public]
rules:
  - name: OnBatteryTrapE2E
    expr: labels.trap == "upsTrapOnBattery" && snmp_trap_received_total > 0
    severity: critical
    summary: "{{ .Labels.target }} sent an on-battery trap"
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: 127.0.0.1, port: %d, tls: none}
receivers:
  - name: room101
    email: [room101@e2e.example]
  - name: noc
    email: [noc@e2e.example]
routes:
  - match: {room: r101}
    receivers: [room101]
  - receivers: [noc]
`, filepath.Join(dir, "state"), httpPort, testpeer.Addr(testpeer.FreeUDPPort(t)), trapAddr, mp.SMTPPort)
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	d := startDaemon(t, path, httpPort)

	trap := func(from string) {
		t.Helper()
		if out, err := exec.Command(snmptrap, "--clientaddr="+from, "-v2c", "-c", "public", "-On", trapAddr, "",
			"1.3.6.1.2.1.33.2.0.1", "1.3.6.1.2.1.33.1.2.2.0", "i", "1").CombinedOutput(); err != nil {
			t.Fatalf("snmptrap: %v\n%s", err, out)
		}
	}
	trap("127.0.0.1") // ups1's address
	trap("127.0.0.2") // nobody's
	to := func(target string) []string {
		var rcpts []string
		for _, m := range mp.Matching(t, "FIRING", "OnBatteryTrapE2E", "on "+target+":") {
			for _, a := range m.To {
				rcpts = append(rcpts, a.Address)
			}
		}
		return rcpts
	}
	testpeer.WaitFor(t, 10*time.Second, "both firing e-mails", func() bool {
		return len(to("ups1")) > 0 && len(to(snmp.UnknownSender)) > 0
	})
	time.Sleep(time.Second) // room for a stray copy to the catch-all
	if got := to("ups1"); len(got) != 1 || got[0] != "room101@e2e.example" {
		t.Errorf("ups1's trap alarm went to %v, want only room101@e2e.example (the route matching room: r101)", got)
	}
	if got := to(snmp.UnknownSender); len(got) != 1 || got[0] != "noc@e2e.example" {
		t.Errorf("the unknown sender's trap alarm went to %v, want only noc@e2e.example (the catch-all)", got)
	}
	found := false
	for _, a := range d.alerts() {
		if a.Rule == "OnBatteryTrapE2E" && a.Labels["target"] == "ups1" {
			found = true
			if a.Labels["room"] != "r101" || a.Labels["class"] != "ups" {
				t.Errorf("ups1's trap alarm labels %v, want room=r101 and class=ups", a.Labels)
			}
		}
	}
	if !found {
		t.Errorf("no OnBatteryTrapE2E alarm of ups1 in the API: %+v", d.alerts())
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/oncall"
)

// A weekly rotation with an override, on the real daemon and a real
// Mailpit: alarms at three moments (anna's week, marco's week after the
// hand-off, an override putting giulia on call) reach the person on call
// at that moment, and `vedetta oncall` and /api/v1/oncall agree. The
// rotation is weekly; its start is set so that a hand-off and the
// override fall within the test's minute.
func TestE2EOnCallRotation(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	port := testpeer.FreePort(t)
	t0 := time.Now().UTC().Truncate(time.Second)
	handoff, overFrom, overUntil := t0.Add(20*time.Second), t0.Add(40*time.Second), t0.Add(70*time.Second)
	local := func(t time.Time) string { return t.Format("2006-01-02 15:04:05") }
	var targets strings.Builder
	for i := 1; i <= 4; i++ {
		f := filepath.Join(dir, fmt.Sprintf("rack%d.prom", i))
		writeFile(t, f, "rack_temperature_celsius 21\n")
		fmt.Fprintf(&targets, "  - {name: rack%d, kind: exec, interval: 1s, exec: {command: [cat, %s], format: prometheus}}\n", i, f)
	}
	cfg := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfg, fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
  token: e2e-oncall-token
targets:
%srules:
  - name: RackTooHot
    expr: rack_temperature_celsius > 35
    severity: critical
    summary: "rack {{ .Labels.target }} at {{ .Value }} °C"
notify:
  email:
    from: vedetta@e2e.example
    relays: [{host: 127.0.0.1, port: %d, tls: none}]
receivers:
  - {name: anna, email: [anna@e2e.example]}
  - {name: marco, email: [marco@e2e.example]}
  - {name: giulia, email: [giulia@e2e.example]}
  - {name: oncall, oncall: primary}
routes:
  - receivers: [oncall]
schedules:
  - name: primary
    time_zone: UTC
    every: week
    start: %s
    people: [giulia, anna, marco]
    overrides:
      - {person: giulia, from: %s, until: %s, comment: swap}
`, filepath.Join(dir, "state"), port, targets.String(), mp.SMTPPort,
		local(handoff.AddDate(0, 0, -14)), local(overFrom), local(overUntil)))
	d := startDaemon(t, cfg, port)

	for i, step := range []struct {
		at   time.Time
		whom string
	}{{t0, "anna"}, {handoff, "marco"}, {overFrom, "giulia"}} {
		time.Sleep(time.Until(step.at.Add(2 * time.Second)))
		rack := fmt.Sprintf("rack%d", i+1)
		// Who the CLI and the API say is on call now.
		code, out, errs := runCLI(t, "oncall", "--config", cfg, "--json")
		var cli []oncall.Report
		if code != 0 || json.Unmarshal([]byte(out), &cli) != nil || len(cli) != 1 || cli[0].Now.Person != step.whom {
			t.Fatalf("%s: vedetta oncall says %s (exit %d %s), want %s", rack, out, code, errs, step.whom)
		}
		_, body := d.get("/api/v1/oncall")
		var api []oncall.Report
		if json.Unmarshal([]byte(body), &api) != nil || len(api) != 1 || api[0].Now.Person != step.whom {
			t.Fatalf("%s: /api/v1/oncall says %s, want %s", rack, body, step.whom)
		}
		writeFile(t, filepath.Join(dir, rack+".prom"), "rack_temperature_celsius 40\n")
		testpeer.WaitFor(t, 10*time.Second, rack+"'s FIRING e-mail", func() bool {
			return len(mp.Matching(t, "FIRING", rack)) > 0
		})
		msgs := mp.Matching(t, "FIRING", rack)
		if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != step.whom+"@e2e.example" {
			t.Fatalf("%s: %+v, want one e-mail to %s", rack, msgs, step.whom)
		}
	}

	// An override made at run time (anna covers for giulia): the next alarm
	// reaches anna, the CLI (asking the daemon) agrees; removed, giulia is
	// back.
	// Without the token the API refuses.
	if resp, err := http.Post(d.http+"/api/v1/oncall/overrides", "application/json",
		strings.NewReader(`{"schedule":"primary","person":"anna","duration":"1h"}`)); err != nil || resp.StatusCode != 401 {
		t.Fatalf("an override without the token: %v %v", err, resp)
	}
	code, out, errs := runCLI(t, "oncall", "override", "add", "--config", cfg, "--schedule", "primary", "--person", "anna", "--for", "10m", "--comment", "swap")
	m := regexp.MustCompile(`override (o[0-9a-f]+): anna on call`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("oncall override add: exit %d %s %s", code, out, errs)
	}
	who := func() string {
		code, out, errs := runCLI(t, "oncall", "--config", cfg, "--json")
		var r []oncall.Report
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r) != 1 || strings.Contains(errs, "cannot be reached") {
			t.Fatalf("vedetta oncall: exit %d %s %s", code, out, errs)
		}
		return r[0].Now.Person
	}
	if p := who(); p != "anna" {
		t.Fatalf("after the run-time override vedetta oncall says %s, want anna", p)
	}
	writeFile(t, filepath.Join(dir, "rack4.prom"), "rack_temperature_celsius 40\n")
	testpeer.WaitFor(t, 10*time.Second, "rack4's FIRING e-mail", func() bool { return len(mp.Matching(t, "FIRING", "rack4")) > 0 })
	if msgs := mp.Matching(t, "FIRING", "rack4"); len(msgs) != 1 || msgs[0].To[0].Address != "anna@e2e.example" {
		t.Fatalf("rack4: %+v, want one e-mail to anna (the run-time override)", msgs)
	}
	if code, out, errs := runCLI(t, "oncall", "override", "remove", "--config", cfg, m[1]); code != 0 {
		t.Fatalf("oncall override remove: exit %d %s %s", code, out, errs)
	}
	if p := who(); p != "giulia" {
		t.Fatalf("after removing the override vedetta oncall says %s, want giulia", p)
	}
	if code, _, errs := runCLI(t, "oncall", "override", "add", "--config", cfg, "--schedule", "primary", "--person", "nobody", "--for", "1h"); code == 0 ||
		!strings.Contains(errs, `"nobody" is not a receiver`) {
		t.Errorf("an override for someone unknown: exit %d %s", code, errs)
	}
}

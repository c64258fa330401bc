package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// myupsProfile reads snmpd's UPS-MIB values under another name: a target
// that names it works only while it is in the target's profile set.
const myupsProfile = `name: myups
mib: UPS-MIB (RFC 1628), as a user profile
match: {sysobjectid: [1.3.6.1.2.1.33]}
metrics:
  - {name: ups_battery_charge_percent, oid: 1.3.6.1.2.1.33.1.2.4.0}
`

// reloadConfig is a config with one SNMP target using profile myups from
// profile_dirs [profiles], and one rule.
func reloadConfig(dir, profiles, ups, rule string, httpPort int) string {
	return fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
profile_dirs: [%s]
targets:
  - name: ups1
    kind: snmp
    class: ups
    interval: 1s
    timeout: 900ms
    snmp: {address: "%s", community: public, timeout: 400ms}
    profiles: [myups]
rules:
  - name: UpsBatteryLow
    expr: %s
    severity: critical
    summary: "{{ .Labels.target }} battery low"
`, filepath.Join(dir, "state"), httpPort, profiles, ups, rule)
}

func writeProfile(t testing.TB, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name), body)
}

// A config refused for an unrelated error (a rule that does not parse)
// leaves the SNMP targets of the previous build exactly as they were,
// whatever its profile_dirs hold: each target holds the profile set it was
// built with, and building another changes nothing process-wide. (Before,
// build swapped a package-global registry first: `profile "myups" is not
// loaded`.)
func TestRefusedBuildKeepsTheRunningTargetsProfiles(t *testing.T) {
	ups := testpeer.StartSnmpdUPS(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		profile string // what profiles2/ holds
	}{
		{"another valid profile set", "name: otherups\nmib: OTHER\nmatch: {subtrees: [1.3.6.1.2.1.33.1]}\nmetrics: [{name: ups_x, oid: 1.3.6.1.2.1.33.1.2.3.0}]\n"},
		{"a broken profile set", "name: myups\nmib: BROKEN\nmatch: {subtrees: [1.3.6.1.2.1.33.1]}\nmetrics: [{name: ups_x, oid: 1.3.6.1.2.1.33.1.2.3.0, bogus: 1}]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeProfile(t, filepath.Join(dir, "profiles"), "myups.yaml", myupsProfile)
			writeProfile(t, filepath.Join(dir, "profiles2"), "other.yaml", tc.profile)
			load := func(body string) *config.Config {
				t.Helper()
				path := filepath.Join(dir, "vedetta.yaml")
				writeFile(t, path, body)
				cfg, err := config.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				return cfg
			}
			port := testpeer.FreePort(t)
			p1, errs := build(load(reloadConfig(dir, "profiles", ups, "ups_battery_charge_percent < 20", port)), log)
			if len(errs) > 0 {
				t.Fatalf("first config: %v", errs)
			}
			poll := func(when string) {
				t.Helper()
				s := collectors.NewScheduler(p1.targets, 1, func(model.Batch) {}, log)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				b, _ := s.CollectOnce(ctx, "ups1")
				if b.Err != nil {
					t.Fatalf("%s: the running target failed: %v", when, b.Err)
				}
				for _, smp := range b.Samples {
					if smp.Name == "ups_battery_charge_percent" && smp.Value == 100 {
						return
					}
				}
				t.Fatalf("%s: no ups_battery_charge_percent 100 in %v", when, b.Samples)
			}
			poll("before the refused config")

			_, errs = build(load(reloadConfig(dir, "profiles2", ups, "ups_battery_charge_percent <", port)), log)
			if len(errs) == 0 {
				t.Fatal("the second config was accepted")
			}
			poll("after the refused config")
		})
	}
}

var targetUpRE = regexp.MustCompile(`(?m)^vedetta_target_up\{[^}]*target="ups1"[^}]*\} (\S+)`)

// The same on the daemon: a SIGHUP with a config whose profile_dirs hold
// other profiles and whose rule does not parse is refused, and ups1 stays
// up, polled with its profile myups.
func TestE2ERefusedReloadKeepsSNMPTargetUp(t *testing.T) {
	t.Parallel()
	ups := testpeer.StartSnmpdUPS(t)
	dir := t.TempDir()
	writeProfile(t, filepath.Join(dir, "profiles"), "myups.yaml", myupsProfile)
	writeProfile(t, filepath.Join(dir, "profiles2"), "other.yaml",
		"name: otherups\nmib: OTHER\nmatch: {subtrees: [1.3.6.1.2.1.33.1]}\nmetrics: [{name: ups_x, oid: 1.3.6.1.2.1.33.1.2.3.0}]\n")
	port := testpeer.FreePort(t)
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, reloadConfig(dir, "profiles", ups, "ups_battery_charge_percent < 20", port))
	d := startDaemon(t, path, port)
	up := func() string {
		_, m := d.get("/metrics")
		if g := targetUpRE.FindStringSubmatch(m); g != nil {
			return g[1]
		}
		return ""
	}
	testpeer.WaitFor(t, 10*time.Second, "ups1 up", func() bool { return up() == "1" })

	writeFile(t, path, reloadConfig(dir, "profiles2", ups, "ups_battery_charge_percent <", port))
	d.signal(syscall.SIGHUP)
	testpeer.WaitFor(t, 10*time.Second, "the reload to be refused", func() bool {
		_, m := d.get("/metrics")
		return regexp.MustCompile(`(?m)^vedetta_config_reloads_total\{result="failure"\} 1$`).MatchString(m)
	})
	// interval 1s: three more polls, each must find myups.
	deadline := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if v := up(); v != "1" {
			t.Fatalf("vedetta_target_up of ups1 = %q after a refused reload, want 1\n%s", v, d.proc.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, m := d.get("/metrics")
	if !regexp.MustCompile(`(?m)^ups_battery_charge_percent\{[^}]*target="ups1"[^}]*\} 100`).MatchString(m) {
		t.Errorf("/metrics lacks ups1's battery charge:\n%s", grepLines(m, "ups"))
	}
}

package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// helpProfile is myups with help: texts and a counter; {{HELP}} is
// replaced per generation.
const helpProfile = `name: myups
mib: UPS-MIB (RFC 1628), as a user profile
match: {sysobjectid: [1.3.6.1.2.1.33]}
metrics:
  - name: ups_battery_charge_percent
    oid: 1.3.6.1.2.1.33.1.2.4.0
    help: {{HELP}}
  - {name: ups_test_minutes_total, oid: 1.3.6.1.2.1.33.1.2.3.0}
`

// The daemon's /metrics: the profile's help: as HELP (the running
// generation's: a reload with other profiles changes it), counter for
// *_total and gauge otherwise, and no timestamps, against a real snmpd.
func TestE2EMetricsHelpTypesNoTimestamps(t *testing.T) {
	t.Parallel()
	ups := testpeer.StartSnmpdUPS(t)
	dir := t.TempDir()
	writeProfile(t, filepath.Join(dir, "profiles"), "myups.yaml", strings.Replace(helpProfile, "{{HELP}}", "upsEstimatedChargeRemaining, first", 1))
	writeProfile(t, filepath.Join(dir, "profiles2"), "myups.yaml", strings.Replace(helpProfile, "{{HELP}}", "upsEstimatedChargeRemaining, after the reload", 1))
	port := testpeer.FreePort(t)
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, reloadConfig(dir, "profiles", ups, "ups_battery_charge_percent < 20", port))
	d := startDaemon(t, path, port)
	var m string
	testpeer.WaitFor(t, 10*time.Second, "ups1 polled", func() bool {
		_, m = d.get("/metrics")
		return strings.Contains(m, "\nups_test_minutes_total{")
	})
	for _, w := range []string{
		"# HELP ups_battery_charge_percent upsEstimatedChargeRemaining, first\n",
		"# TYPE ups_battery_charge_percent gauge\n",
		"# TYPE ups_test_minutes_total counter\n",
		"# HELP ups_test_minutes_total Collected by vedetta.\n",
	} {
		if !strings.Contains(m, w) {
			t.Errorf("/metrics lacks %q:\n%s", w, grepLines(m, "ups_"))
		}
	}
	// A sample line is name{labels} value: nothing after the value.
	if l := regexp.MustCompile(`(?m)^ups_battery_charge_percent\{[^}]*\} \S+ \S+$`).FindString(m); l != "" {
		t.Errorf("a sample carries a timestamp: %q", l)
	}
	if !regexp.MustCompile(`(?m)^ups_battery_charge_percent\{[^}]*target="ups1"[^}]*\} 100$`).MatchString(m) {
		t.Errorf("/metrics lacks ups1's charge:\n%s", grepLines(m, "ups_"))
	}

	writeFile(t, path, reloadConfig(dir, "profiles2", ups, "ups_battery_charge_percent < 20", port))
	d.signal(syscall.SIGHUP)
	defer func() { t.Log(grepLines(m, "ups_battery")) }()
	testpeer.WaitFor(t, 10*time.Second, "the reload's help", func() bool {
		_, m = d.get("/metrics")
		return strings.Contains(m, "# HELP ups_battery_charge_percent upsEstimatedChargeRemaining, after the reload\n")
	})
}

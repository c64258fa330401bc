package snmp

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedSNMPRulesQuietOnRealDevices runs configs/rules.d/snmp.yaml
// over real recordings: a Catalyst 2960-X's chassis sensors at 43-44 °C
// are its silicon, not the room, so RackTooHot stays quiet on a switch
// (it stormed a first start before); a NetBotz's room sensor at 40 °C is
// a hot rack.
func TestShippedSNMPRulesQuietOnRealDevices(t *testing.T) {
	rs := rulestest.Shipped(t, "snmp.yaml")
	recs := []string{"ios_2960x", "apc-netbotz_netbotz750"}
	addr, _ := startSimd(t, "", recs...)
	samples := map[string][]model.Sample{}
	for _, r := range recs {
		k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret(r), Timeout: 3 * time.Second}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Poll(t.Context(), func(s model.Sample) { samples[r] = append(samples[r], s) }); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	hot := func(ss []model.Sample, sensor string, v float64) []model.Sample {
		out := slices.Clone(ss)
		for i := range out {
			if out[i].Name == "sensor_temperature_celsius" && out[i].Labels.Get("sensor") == sensor {
				out[i].Value = v
				return out
			}
		}
		t.Fatalf("no sensor %q", sensor)
		return nil
	}
	for _, tc := range []struct {
		name, class string
		ss          []model.Sample
		want        []string // the temperature alarms firing
	}{
		{"a switch's own sensors", "switch", samples["ios_2960x"], nil},
		{"the same device of no declared class counts as room air", "snmp", samples["ios_2960x"],
			[]string{"RackTooHot: SW#1, Sensor#1, GREEN on dev reads 44 °C", "RackTooHot: SW#2, Sensor#1, GREEN on dev reads 43 °C",
				"RackTooHot: SW#3, Sensor#1, GREEN on dev reads 43 °C"}},
		{"a room sensor as recorded", "environment", samples["apc-netbotz_netbotz750"], nil},
		{"a room sensor at 40 °C", "environment", hot(samples["apc-netbotz_netbotz750"], "AP9520TH", 40),
			[]string{"RackTooHot: AP9520TH on dev reads 40 °C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rulestest.NewFeed(rs, "dev", tc.class, 30*time.Second)
			for range 6 { // 2m30s: past RackTooHot's for: 2m
				f.Round(tc.ss)
			}
			var got []string
			for _, s := range rulestest.Summaries(f.Engine) {
				if strings.HasPrefix(s, "RackTooHot") || strings.HasPrefix(s, "TemperatureRisingFast") {
					got = append(got, s)
				}
			}
			slices.Sort(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("temperature alarms:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// pollRecordings polls each recording once through a real snmpsimd (data
// from dataDir when it has a variant of the recording) and returns the
// samples of each.
func pollRecordings(t *testing.T, dataDir string, recs ...string) map[string][]model.Sample {
	t.Helper()
	addr, _ := startSimd(t, dataDir, recs...)
	out := map[string][]model.Sample{}
	for _, r := range recs {
		k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret(r), Timeout: 3 * time.Second}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Poll(t.Context(), func(s model.Sample) { out[r] = append(out[r], s) }); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	return out
}

// snmpCases are the shipped rules fed by SNMP recordings: each row
// changes a real device's samples the way the failure would and names
// what the page must say (the number with its unit).
var snmpCases = []struct {
	file string // configs/rules.d/<file>
	rec  string // the recording
	rulestest.Case
}{
	// snmp.yaml
	{"snmp.yaml", "apc_ats", rulestest.Case{Rule: "ATSOnSourceB", Class: "ats",
		Fire: rulestest.Set("ats_selected_source", 2), Want: "dev feeds the load from source B", WantResolved: "dev feeds the load from source A again"}},
	{"snmp.yaml", "himoinsa-gensets", rulestest.Case{Rule: "GeneratorAlarm", Class: "generator",
		Fire: rulestest.Set("generator_alarm", 1), Want: "generator dev reports an alarm", WantResolved: "generator dev no longer reports an alarm"}},
	{"snmp.yaml", "himoinsa-gensets", rulestest.Case{Rule: "GeneratorRunning", Class: "generator",
		Fire: rulestest.Set("generator_running", 1), Want: "generator dev is running", WantResolved: "generator dev has stopped"}},
	{"snmp.yaml", "himoinsa-gensets", rulestest.Case{Rule: "GeneratorOnLoad", Class: "generator",
		// The recording's status word has neither breaker bit (no
		// generator_on_load): the test serves it with "mains closed" set.
		Fire: rulestest.Set("generator_on_load", 1), Want: "generator dev carries the load", WantResolved: "generator dev no longer carries the load: mains power is back"}},
	{"snmp.yaml", "himoinsa-gensets", rulestest.Case{Rule: "GeneratorFuelLow", Class: "generator",
		Fire: rulestest.Set("generator_fuel_percent", 18), Want: "has 18 % fuel left"}},
	{"snmp.yaml", "himoinsa-gensets", rulestest.Case{Rule: "GeneratorStarterBatteryLow", Class: "generator",
		Fire: rulestest.Set("generator_battery_volts", 11.2), Want: "is at 11.2 V"}},
	{"snmp.yaml", "apc-netbotz_netbotz750", rulestest.Case{Rule: "RackTooHot", Class: "environment",
		Fire: rulestest.Set("sensor_temperature_celsius", 40, "sensor", "AP9520TH"), Want: "AP9520TH on dev reads 40 °C"}},
	{"snmp.yaml", "apc-netbotz_netbotz750", rulestest.Case{Rule: "TemperatureRisingFast", Class: "environment",
		Fire: rulestest.Ramp("sensor_temperature_celsius", 0.5, "sensor", "AP9520TH"), Rounds: 20,
		Want: "AP9520TH on dev rose 9.5 °C in 10 minutes"}},
	{"snmp.yaml", "apc-netbotz_netbotz750", rulestest.Case{Rule: "HumidityOutOfRange", Class: "environment",
		Fire: rulestest.Set("sensor_humidity_percent", 85, "sensor", "AP9520TH"), Want: "AP9520TH on dev reads 85 % relative humidity"}},
	{"snmp.yaml", "apc-netbotz_netbotz750", rulestest.Case{Rule: "SensorFault", Class: "environment",
		Fire: rulestest.Set("sensor_ok", 0, "sensor", "AP9520TH"), Want: "AP9520TH on dev reports a fault", WantResolved: "AP9520TH on dev reports OK again"}},
	{"snmp.yaml", "apc_ap8959eu3", rulestest.Case{Rule: "PDUPhaseHighCurrent", Class: "pdu",
		Fire: rulestest.Set("pdu_current_amperes", 13.6, "phase", "1"), Want: "dev phase 1 draws 13.6 A"}},
	{"snmp.yaml", "ios_2960x", rulestest.Case{Rule: "SwitchPortDown", Class: "switch",
		Fire: rulestest.Set("if_oper_up", 0, "ifname", "Gi3/0/13"), Want: "Gi3/0/13 (* Printer *) on dev is down", WantResolved: "Gi3/0/13 (* Printer *) on dev is up again"}},
	{"snmp.yaml", "ios_2960x", rulestest.Case{Rule: "SwitchPortErrors", Class: "switch",
		// 75 errors a round of 30 s: 2.5 errors/s
		Fire: rulestest.Ramp("if_in_errors_total", 75, "ifname", "Gi3/0/13"), Rounds: 32, HoldToResolve: true,
		Want: "Gi3/0/13 on dev receives 2.5 errors/s"}},
	{"snmp.yaml", "ios_2960x", rulestest.Case{Rule: "PSUFailed", Class: "switch",
		Fire: rulestest.Set("psu_ok", 0, "name", "Sw2, PS1 Normal, RPS NotExist"), Want: "power supply Sw2, PS1 Normal, RPS NotExist of dev has failed", WantResolved: "power supply Sw2, PS1 Normal, RPS NotExist of dev works again"}},
	{"snmp.yaml", "ios_2960x", rulestest.Case{Rule: "FanFailed", Class: "switch",
		Fire: rulestest.Set("fan_ok", 0, "name", "Switch#3, Fan#1"), Want: "fan Switch#3, Fan#1 of dev has failed", WantResolved: "fan Switch#3, Fan#1 of dev works again"}},
	// UPSOnBatteryTrap: TestUPSOnBatteryTrapSummary (real traps).

	// nut.yaml: the SNMP UPSes emit the same ups_* / ats_* metrics
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSOnBattery", Class: "ups",
		Fire: rulestest.Set("ups_on_battery", 1), Want: "dev runs on battery: mains power lost, 2 h 55 min left, charge 100 %, load 3 %", WantResolved: "dev is back on mains power"}},
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSBatteryLow", Class: "ups",
		Fire: rulestest.Set("ups_battery_low", 1), Want: "dev: battery low, shutdown imminent", WantResolved: "dev: battery no longer low"}},
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSRuntimeShort", Class: "ups",
		Fire: rulestest.All(rulestest.Set("ups_on_battery", 1), rulestest.Set("ups_battery_runtime_seconds", 480)),
		Want: "dev has 8 min of battery runtime left", WantResolved: "dev is no longer short of runtime: 2 h 55 min of battery"}},
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSReplaceBattery", Class: "ups",
		Fire: rulestest.Set("ups_battery_replace_needed", 1), Want: "dev asks for a battery replacement", WantResolved: "dev no longer asks for a battery replacement"}},
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSOnBypass", Class: "ups",
		Fire: rulestest.Set("ups_on_bypass", 1), Want: "dev is on bypass", WantResolved: "dev is off bypass: the load is protected again"}},
	{"nut.yaml", "cyberpower_pr2200rt2uc", rulestest.Case{Rule: "UPSAlarm", Class: "ups",
		Fire: rulestest.Set("ups_alarms_active", 2), Want: "dev has 2 active alarm(s)"}},
	{"nut.yaml", "apc_ats", rulestest.Case{Rule: "ATSRedundancyLost", Class: "ats",
		Fire: rulestest.Set("ats_source_ok", 0, "source", "B"), Want: "dev: source B is down, no redundancy", WantResolved: "dev: source B is back, redundancy restored"}},

	// network.yaml
	{"network.yaml", "dnos_bgp", rulestest.Case{Rule: "BGPSessionDown", Class: "router",
		Fire: rulestest.Set("bgp_peer_state", 3, "peer", "10.255.0.49"), Want: "BGP session to 10.255.0.49 (AS 7714) on dev is down (state active)", WantResolved: "on dev is established"}},
	{"network.yaml", "dnos_bgp", rulestest.Case{Rule: "BGPSessionFlapping", Class: "router",
		Fire: rulestest.Ramp("bgp_peer_fsm_established_transitions_total", 1, "peer", "99.99.132.50"), Rounds: 5, HoldToResolve: true,
		Want: "BGP session to 99.99.132.50 (AS 65506) on dev came up 4 times in an hour"}},
	{"network.yaml", passSnmpd, rulestest.Case{Rule: "LAGMemberDetached", Class: "switch",
		Fire: rulestest.Set("lag_member_attached", 0, "ifname", "swp8"),
		Want: "swp8 on dev is not attached to its LAG bond0", WantResolved: "swp8 on dev is attached to its LAG bond0 again"}},
	{"network.yaml", passSnmpd, rulestest.Case{Rule: "VRRPMasterChanged", Class: "router",
		Fire: rulestest.Set("vrrp_master", 0, "vrid", "10"), Want: "VRRP group 10 on swp7 of dev changed master (now backup)",
		HoldToResolve: true, WantResolved: "VRRP group 10 on swp7 of dev has kept its master for 10 minutes (this router is backup)"}},
	{"network.yaml", "ios_c3560", rulestest.Case{Rule: "HSRPActiveChanged", Class: "switch",
		Fire: rulestest.Set("hsrp_active", 1, "group", "1"), Want: "HSRP group 1 on dev changed active router (now active)",
		HoldToResolve: true, WantResolved: "HSRP group 1 on dev has kept its active router for 10 minutes (this router is active)"}},
	{"network.yaml", "panos_5220", rulestest.Case{Rule: "FirewallHAFailover", Class: "firewall",
		Fire: rulestest.Set("firewall_ha_active", 0), Want: "firewall dev failed over: it is now standby",
		HoldToResolve: true, WantResolved: "firewall dev has not failed over for 10 minutes: it is standby"}},
	{"network.yaml", "panos_5220", rulestest.Case{Rule: "FirewallHANoActiveUnit", Class: "firewall",
		Fire: rulestest.Set("firewall_ha_active", 0), Want: "firewall pair of dev has no active unit", WantResolved: "firewall pair of dev has an active unit again"}},
	{"network.yaml", "panos_5220", rulestest.Case{Rule: "FirewallHAPeerLost", Class: "firewall",
		Fire: rulestest.Set("firewall_ha_peer_ok", 0), Want: "the HA peer of firewall dev is not healthy", WantResolved: "the HA peer of firewall dev is healthy again"}},
	{"network.yaml", "fortigate_1500d-sensors", rulestest.Case{Rule: "FirewallHAMemberLost", Class: "firewall",
		// As recorded: an FGCP cluster whose unit sees only itself.
		Resolve: rulestest.Set("firewall_ha_members", 2), Want: "firewall cluster of dev sees 1 member(s): no failover possible",
		WantResolved: "firewall cluster of dev sees 2 member(s)"}},
	{"network.yaml", "fortigate_1500d-sensors", rulestest.Case{Rule: "FirewallHAOutOfSync", Class: "firewall",
		Fire: rulestest.Set("firewall_ha_sync_ok", 0, "member", "sto-fw-01"), Want: "HA member sto-fw-01 of firewall dev is out of sync", WantResolved: "HA member sto-fw-01 of firewall dev is in sync again"}},
	{"network.yaml", "routeros_wifi", rulestest.Case{Rule: "RadioLinkDown", Class: "radio",
		Fire: rulestest.Set("radio_link_up", 0), Want: "radio link dev is down", WantResolved: "radio link dev is up again"}},
	{"network.yaml", "ptp670", rulestest.Case{Rule: "RadioSignalWeak", Class: "radio",
		Fire: rulestest.Set("radio_signal_dbm", -74.5), Want: "radio link dev receives -74.5 dBm: little fade margin left",
		WantResolved: "radio link dev receives -52.8 dBm"}},

	// servers.yaml, read from a BMC over SNMP
	{"servers.yaml", "hpe-ilo_4", rulestest.Case{Rule: "ServerPSUFailed", Class: "server",
		Fire: rulestest.Set("server_psu_ok", 0, "psu", "2"), Want: "power supply 2 on dev has failed", WantResolved: "power supply 2 on dev works again"}},
	{"servers.yaml", "hpe-ilo_4", rulestest.Case{Rule: "ServerPSURedundancyLost", Class: "server",
		Fire: rulestest.Set("server_psu_redundancy_ok", 0), Want: "dev: power supply redundancy lost", WantResolved: "dev: power supply redundancy restored"}},
	{"servers.yaml", "hpe-ilo_4", rulestest.Case{Rule: "ServerFanFailed", Class: "server",
		Fire: rulestest.Set("server_fan_ok", 0, "fan", "3"), Want: "fan 3 on dev is below its threshold or stopped", WantResolved: "fan 3 on dev works again"}},
}

// mainsClosed writes a variant of the HIMOINSA recording whose status
// word (.1.46.0, 6 as recorded) also has bit 8 (256: the mains breaker
// closed), so that the profile emits generator_on_load 0; the directory
// is startSimd's dataDir.
func mainsClosed(t *testing.T) string {
	t.Helper()
	const rec, oid = "himoinsa-gensets", "1.3.6.1.4.1.41809.1.46.0|66|"
	b, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), rec+".snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n"+oid+"6\n") {
		t.Fatalf("%s: no %s6 line", rec, oid)
	}
	dir := t.TempDir()
	variant := strings.Replace(string(b), "\n"+oid+"6\n", "\n"+oid+"262\n", 1)
	if err := os.WriteFile(filepath.Join(dir, rec+".snmprec"), []byte(variant), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// passSnmpd names the rows fed by a real net-snmp snmpd serving VRRP-MIB
// and IEEE8023-LAG-MIB rows (startPassSnmpd): no recording has those tables.
const passSnmpd = "snmpd pass: VRRP-MIB + IEEE8023-LAG-MIB"

// pollPassSnmpd polls that snmpd with swp7 the VRRP master of group 10,
// swp8 backup of group 20, and both attached to bond0.
func pollPassSnmpd(t *testing.T) []model.Sample {
	t.Helper()
	addr, data := startPassSnmpd(t)
	const (
		vrrpState = "1.3.6.1.2.1.68.1.3.1.3."
		lagPort   = "1.2.840.10006.300.43.1.2.1.1."
		ifName    = "1.3.6.1.2.1.31.1.1.1.1."
	)
	writeRows(t, data, map[string]string{
		ifName + "7": "string|swp7", ifName + "8": "string|swp8", ifName + "100": "string|bond0",
		vrrpState + "7.10": "integer|3", vrrpState + "8.20": "integer|2",
		lagPort + "1.7": "integer|7", lagPort + "1.8": "integer|8",
		lagPort + "4.7": "integer|1", lagPort + "4.8": "integer|1",
		lagPort + "12.7": "integer|100", lagPort + "12.8": "integer|100",
		lagPort + "13.7": "integer|100", lagPort + "13.8": "integer|100",
	})
	k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret("public"), Timeout: 3 * time.Second}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []model.Sample
	if _, err := k.Poll(t.Context(), func(s model.Sample) { out = append(out, s) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShippedRuleSummaries: every row of snmpCases against its recording
// served by snmpsimd.
func TestShippedRuleSummaries(t *testing.T) {
	var recs []string
	for _, c := range snmpCases {
		if c.rec != passSnmpd && !slices.Contains(recs, c.rec) {
			recs = append(recs, c.rec)
		}
	}
	samples := pollRecordings(t, mainsClosed(t), recs...)
	samples[passSnmpd] = pollPassSnmpd(t)
	rs := map[string][]*rules.Rule{}
	for _, c := range snmpCases {
		if rs[c.file] == nil {
			rs[c.file] = rulestest.Shipped(t, c.file)
		}
		c.Source = c.rec
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs[c.file], "dev", samples[c.rec], c.Case) })
	}
}

// TestUPSRuntimeShortOnTheRecording is issue 15's page: a UPS on battery
// with 8 minutes of runtime left, the recording itself changed
// (upsOutputSource battery(5), upsEstimatedMinutesRemaining 8) and served
// by snmpsimd, says "8 min left", not "1s left".
func TestUPSRuntimeShortOnTheRecording(t *testing.T) {
	const rec = "deltaups" // UPS-MIB (RFC 1628) only
	b, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), rec+".snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	changed := 0
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "1.3.6.1.2.1.33.1.4.1.0|"): // upsOutputSource
			line, changed = "1.3.6.1.2.1.33.1.4.1.0|2|5", changed+1
		case strings.HasPrefix(line, "1.3.6.1.2.1.33.1.2.3.0|"): // upsEstimatedMinutesRemaining
			line, changed = "1.3.6.1.2.1.33.1.2.3.0|2|8", changed+1
		}
		out = append(out, line)
	}
	if changed != 2 {
		t.Fatalf("changed %d of the 2 OIDs in %s", changed, rec)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, rec+".snmprec"), []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ss := pollRecordings(t, dir, rec)[rec]
	if v := rulestest.Value(t, ss, "ups_battery_runtime_seconds"); v != 480 {
		t.Fatalf("ups_battery_runtime_seconds %v, want 480", v)
	}
	e := rulestest.Replay(rulestest.Shipped(t, "nut.yaml"), "ups-b", "ups", ss, 3, 30*time.Second)
	got := strings.Join(rulestest.Summaries(e), "\n")
	if !strings.Contains(got, "UPSRuntimeShort: ups-b has 8 min of battery runtime left") {
		t.Errorf("summaries:\n%s\nwant UPSRuntimeShort with 8 min of battery runtime left", got)
	}
}

// TestShippedPairRuleSummaries: the hand-written aggregation rules of
// configs/redundancy.yaml over the two firewalls of its fw-edge pair, a
// PAN-OS unit (active) as fw-1 and a Check Point unit (standby) as fw-2,
// both from their recordings through snmpsimd.
func TestShippedPairRuleSummaries(t *testing.T) {
	samples := pollRecordings(t, "", "panos_5220", "gaia_15600")
	cfg, err := config.Load(filepath.Join(testpeer.RepoRoot(t), "configs", "redundancy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := rules.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	members := map[string]string{"fw-1": "panos_5220", "fw-2": "gaia_15600"}
	for _, tc := range []struct {
		Rule               string
		fire               map[string]float64 // target -> its firewall_ha_active
		want, wantResolved string
	}{
		{Rule: "FirewallPairNoActive", fire: map[string]float64{"fw-1": 0},
			want: "firewall pair fw-edge: no member is active (fw-1, fw-2)", wantResolved: "firewall pair fw-edge: a member is active again (fw-1, fw-2)"},
		{Rule: "FirewallPairSplitBrain", fire: map[string]float64{"fw-2": 1},
			want: "firewall pair fw-edge: 2 member(s) claim to be active (split brain)", wantResolved: "firewall pair fw-edge: 1 member(s) claim to be active"},
	} {
		t.Run(tc.Rule, func(t *testing.T) {
			now := rulestest.Start
			e := rules.New(rules.Options{Rules: rs, Now: func() time.Time { return now },
				Intervals: map[string]time.Duration{"fw-1": 15 * time.Second, "fw-2": 15 * time.Second}})
			round := func(fire map[string]float64) {
				for target, rec := range members {
					b := model.Batch{Target: target}
					for _, s := range samples[rec] {
						s.Labels = s.Labels.With("target", target).With("class", "firewall").With("pair", "fw-edge")
						if v, ok := fire[target]; ok && s.Name == "firewall_ha_active" {
							s.Value = v
						}
						s.Time = now
						b.Samples = append(b.Samples, s)
					}
					e.Ingest(b)
				}
				e.Tick()
				now = now.Add(15 * time.Second)
			}
			summary := func(st model.State) string {
				for _, a := range e.Alarms() {
					if a.Rule == tc.Rule && a.State == st {
						return a.Summary
					}
				}
				return ""
			}
			for range 3 {
				round(nil)
			}
			if s := summary(model.StateFiring); s != "" {
				t.Fatalf("%s fires on the recordings as they are: %q", tc.Rule, s)
			}
			for range 3 {
				round(tc.fire)
			}
			if s := summary(model.StateFiring); !strings.Contains(s, tc.want) {
				t.Fatalf("%s firing: %q, want %q", tc.Rule, s, tc.want)
			}
			for range 3 {
				round(nil)
			}
			if s := summary(model.StateResolved); !strings.Contains(s, tc.wantResolved) {
				t.Fatalf("%s resolved: %q, want %q", tc.Rule, s, tc.wantResolved)
			}
		})
	}
}

// TestUPSOnBatteryTrapSummary: UPSOnBatteryTrap on on-battery traps
// (UPS-MIB upsTrapOnBattery) sent by net-snmp's snmptrap to the trap
// receiver: the page counts them, and its RESOLVED, five quiet minutes
// later, says none came.
func TestUPSOnBatteryTrapSummary(t *testing.T) {
	snmptrap := testpeer.Need(t, "snmptrap")
	r, sink := startReceiver(t)
	c := rulestest.Case{Rule: "UPSOnBatteryTrap", Source: "snmptrap upsTrapOnBattery",
		Want: "ups-a sent 2 on-battery trap(s) in 5 minutes", WantResolved: "ups-a sent 0 on-battery trap(s) in 5 minutes"}
	f := rulestest.NewFeed(rulestest.Shipped(t, "snmp.yaml"), "ups-a", "ups", 30*time.Second)
	var last []model.Sample
	for n := 1; n <= 3; n++ {
		env := append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir())
		cmd := exec.Command(snmptrap, "-v2c", "-c", "public", "-On", r.Addr(), "", "1.3.6.1.2.1.33.2.0.1")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("snmptrap: %v\n%s", err, out)
		}
		testpeer.WaitFor(t, 5*time.Second, "the trap", func() bool { return sink.count() == n })
		sink.mu.Lock()
		last = slices.Clone(sink.batches[n-1].Samples)
		sink.mu.Unlock()
		f.Round(last)
	}
	got := summaryOf(f.Engine, c.Rule, model.StateFiring)
	if !strings.Contains(got, c.Want) {
		t.Fatalf("%s firing: %q, want %q", c.Rule, got, c.Want)
	}
	for range 11 { // 5 min 30 s without a trap
		f.Round(last)
	}
	if got := summaryOf(f.Engine, c.Rule, model.StateResolved); !strings.Contains(got, c.WantResolved) {
		t.Fatalf("%s resolved: %q, want %q", c.Rule, got, c.WantResolved)
	}
}

func summaryOf(e *rules.Engine, rule string, st model.State) string {
	for _, a := range e.Alarms() {
		if a.Rule == rule && a.State == st {
			return a.Summary
		}
	}
	return ""
}

package snmp

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// classFamilies are the normalized metrics that make a device of a class
// useful (README.md, "Normalized metrics"): IF-MIB and system data
// (if_*, host_* on a non-host, snmp_profile_matched) do not count.
var classFamilies = map[string][]string{
	"ups":         {"ups_"},
	"pdu":         {"pdu_"},
	"ats":         {"ats_"},
	"generator":   {"generator_"},
	"environment": {"sensor_"},
	"switch":      {"psu_ok", "fan_ok", "sensor_"},
	"router":      {"bgp_"},
	"firewall":    {"firewall_"},
	"host":        {"host_"},
	"radio":       {"radio_"},
	"server":      {"server_"},
}

// coverageVerdict is what one recording of ../shared/testdata/snmprec must
// yield: the class metrics listed in yields (each at least one sample), or
// — exception set — none at all, for the reason given, which check
// verifies against the recording itself.
type coverageVerdict struct {
	class     string
	yields    []string
	exception string
	// check verifies what the verdict claims about the recording (the
	// exception's reason, or a class that differs from SOURCES.md's).
	check func(t *testing.T, raw map[string]string)
}

const sensatronicsWhy = "the EM1's readings have no unit in the recording (unitMode, " +
	"1.3.6.1.4.1.16174.1.1.3.2.3.1, is absent, and 49.7-72.2 fit both scales) and its two copies of each " +
	"temperature disagree (string \"54.3\", integer 66): no number can be trusted, so none is exported"

// sensatronicsNoUnit: the unit scalar is missing and the copies disagree.
func sensatronicsNoUnit(t *testing.T, raw map[string]string) {
	if v, ok := raw["1.3.6.1.4.1.16174.1.1.3.2.3.1.0"]; ok {
		t.Errorf("the recording has unitMode = %q: the exception no longer holds", v)
	}
	for g := 1; g <= 4; g++ {
		base := "1.3.6.1.4.1.16174.1.1.3.3." + strconv.Itoa(g)
		s, i := raw[base+".3.0"], raw[base+".4.0"]
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || i == "" || strconv.FormatFloat(f, 'f', 0, 64) == i {
			t.Errorf("group %d: string %q and integer %q do not disagree as claimed", g, s, i)
		}
	}
}

// liebertIsAPDU: SOURCES.md and sysDescr say "Liebert GXT2-3000RT120" (a
// UPS), but the recording holds a Liebert MPH rack PDU's LIEBERT-GP-PDU-MIB
// rows and no UPS object at all (neither LIEBERT-GP-POWER nor RFC 1628).
func liebertIsAPDU(t *testing.T, raw map[string]string) {
	if m := raw["1.3.6.1.4.1.476.1.42.3.8.30.20.1.20.1.1"]; !strings.HasPrefix(m, "MPH-") {
		t.Errorf("lgpPduPsEntryModelNumber = %q, want an MPH PDU model", m)
	}
	for oid := range raw {
		if strings.HasPrefix(oid, "1.3.6.1.4.1.476.1.42.3.5.") || strings.HasPrefix(oid, "1.3.6.1.2.1.33.") {
			t.Errorf("%s: the recording has UPS objects, it should yield ups_* metrics", oid)
		}
	}
}

// pfsenseIsARouter: SOURCES.md files the pfSense as a firewall, but it has
// no firewall or HA MIB (pfSense's CARP is not in SNMP), only net-snmp's
// own subtrees next to BGP4-MIB: it is a BGP speaker here.
func pfsenseIsARouter(t *testing.T, raw map[string]string) {
	bgp := 0
	for oid := range raw {
		if strings.HasPrefix(oid, "1.3.6.1.2.1.15.") {
			bgp++
		}
		if strings.HasPrefix(oid, "1.3.6.1.4.1.") && !strings.HasPrefix(oid, "1.3.6.1.4.1.2021.") && !strings.HasPrefix(oid, "1.3.6.1.4.1.8072.") {
			t.Errorf("%s: the recording has a vendor subtree besides net-snmp's", oid)
			return
		}
	}
	if bgp == 0 {
		t.Errorf("the recording has no BGP4-MIB object")
	}
}

// coverage is the verdict for every recording: a recording added to
// ../shared/testdata/snmprec without one fails the test.
var coverage = map[string]coverageVerdict{
	"airos-af":                 {class: "radio", yields: []string{"radio_capacity_bits_per_second", "radio_signal_dbm"}},
	"akcp_serverprobe8":        {class: "environment", yields: []string{"sensor_humidity_percent", "sensor_ok", "sensor_temperature_celsius"}},
	"aos-emu2_ap9320":          {class: "environment", yields: []string{"sensor_contact_closed", "sensor_humidity_percent", "sensor_ok", "sensor_temperature_celsius"}},
	"apc-mgeups_galaxy7000":    {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"apc-netbotz_netbotz750":   {class: "environment", yields: []string{"sensor_contact_closed", "sensor_humidity_percent", "sensor_ok", "sensor_temperature_celsius"}},
	"apc_ap8959eu3":            {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_outlet_on", "pdu_power_watts"}},
	"apc_ats":                  {class: "ats", yields: []string{"ats_redundancy_lost", "ats_selected_source", "ats_source_ok"}},
	"apc_emu":                  {class: "environment", yields: []string{"sensor_humidity_percent", "sensor_ok"}},
	"apc_smt750x-nmc2":         {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"apc_symmetralx":           {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"arista_eos_vrf":           {class: "switch", yields: []string{"fan_ok", "sensor_ok", "sensor_temperature_celsius"}},
	"arubaos-cx_8360":          {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_ok", "sensor_temperature_celsius"}},
	"avtech_roomalert32s":      {class: "environment", yields: []string{"sensor_contact_closed", "sensor_humidity_percent", "sensor_temperature_celsius"}},
	"cumulus_cumulus":          {class: "switch", yields: []string{"fan_ok", "sensor_ok", "sensor_temperature_celsius"}},
	"cyberpower_pr2200rt2uc":   {class: "ups", yields: []string{"ups_alarms_active", "ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"dell-os10":                {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_temperature_celsius"}},
	"deltaups":                 {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"dnos_bgp":                 {class: "router", yields: []string{"bgp_peer_admin_enabled", "bgp_peer_established", "bgp_peer_established_seconds", "bgp_peer_fsm_established_transitions_total", "bgp_peer_in_messages_total", "bgp_peer_in_updates_total", "bgp_peer_out_messages_total", "bgp_peer_out_updates_total", "bgp_peer_state"}},
	"dnos_z9100-on":            {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_temperature_celsius"}},
	"drac_r640":                {class: "server", yields: []string{"server_fan_rpm", "server_temperature_celsius"}},
	"dsm":                      {class: "host", yields: []string{"host_filesystem_used_ratio", "host_load1"}},
	"eaton-mgeups_93ps":        {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"eatonpdu_dbq":             {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_outlet_on", "pdu_power_watts", "pdu_voltage_volts"}},
	"eatonups":                 {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_runtime_seconds", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"eatonupsm2_9px":           {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"edgeswitch":               {class: "switch", yields: []string{"sensor_ok", "sensor_temperature_celsius"}},
	"fortigate_1500d-sensors":  {class: "firewall", yields: []string{"firewall_ha_members", "firewall_ha_mode_ha", "firewall_ha_sync_ok"}},
	"gaia_15600":               {class: "firewall", yields: []string{"firewall_ha_active", "firewall_ha_mode_ha"}},
	"generex-ups_cs121":        {class: "ups", yields: []string{"ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"generex-ups_cs141-v22036": {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"himoinsa-gensets":         {class: "generator", yields: []string{"generator_alarm", "generator_battery_volts", "generator_fuel_percent", "generator_running"}},
	"hpe-ilo_4":                {class: "server", yields: []string{"server_fan_ok", "server_psu_ok", "server_psu_redundancy_ok", "server_temperature_celsius"}},
	"hwg-ste2":                 {class: "environment", yields: []string{"sensor_contact_closed", "sensor_ok", "sensor_temperature_celsius"}},
	"hwg-wld_wld2":             {class: "environment", yields: []string{"sensor_leak_detected", "sensor_ok"}},
	"ios_2960x":                {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_ok", "sensor_power_dbm", "sensor_temperature_celsius"}},
	"ios_c3560":                {class: "switch", yields: []string{"fan_ok", "psu_ok"}},
	"iosxe_c9500h-svl":         {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_ok", "sensor_power_dbm", "sensor_temperature_celsius"}},
	"junos_ex":                 {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_temperature_celsius"}},
	"junos_qfx5100":            {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_temperature_celsius"}},
	"liebert":                  {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_power_watts"}, check: liebertIsAPDU},
	"liebert_apm":              {class: "ups", yields: []string{"ups_alarms_active", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass"}},
	"linux_powermon":           {class: "host", yields: []string{"host_filesystem_used_ratio", "host_load1"}},
	"netmanplus_208":           {class: "ups", yields: []string{"ups_alarms_active", "ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"netvision-rfc":            {class: "ups", yields: []string{"ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"nti_micro":                {class: "environment", yields: []string{"sensor_humidity_percent", "sensor_temperature_celsius"}},
	"nxos_n3k-3064pq":          {class: "switch", yields: []string{"fan_ok", "psu_ok", "sensor_power_dbm", "sensor_temperature_celsius"}},
	"ocnos_s9600-32x":          {class: "router", yields: []string{"bgp_peer_admin_enabled", "bgp_peer_established", "bgp_peer_established_seconds", "bgp_peer_in_messages_total", "bgp_peer_in_updates_total", "bgp_peer_out_messages_total", "bgp_peer_out_updates_total", "bgp_peer_state"}},
	"panos_5220":               {class: "firewall", yields: []string{"firewall_ha_active", "firewall_ha_mode_ha", "firewall_ha_peer_active", "firewall_ha_peer_ok"}},
	"pfsense_frr-bgp":          {class: "router", yields: []string{"bgp_peer_established", "bgp_peer_state", "bgp_peer_admin_enabled"}, check: pfsenseIsARouter},
	"poweralert_2":             {class: "ups", yields: []string{"ups_alarms_active", "ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_battery_runtime_seconds", "ups_battery_temperature_celsius", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"procurve_2520":            {class: "switch", yields: []string{"fan_ok"}},
	"ptp670":                   {class: "radio", yields: []string{"radio_capacity_bits_per_second", "radio_signal_dbm", "radio_transmit_power_dbm"}},
	"raritan-pdu_px2":          {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_power_watts"}},
	"rittal-cmc-iii-pu":        {class: "environment", yields: []string{"sensor_contact_closed", "sensor_ok", "sensor_temperature_celsius"}},
	"routeros_wifi":            {class: "radio", yields: []string{"radio_capacity_bits_per_second", "radio_link_up", "radio_signal_dbm"}},
	"sensatronics-em1":         {class: "environment", exception: sensatronicsWhy, check: sensatronicsNoUnit},
	"sentry3_3phase":           {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_power_watts", "pdu_voltage_volts"}},
	"sentry4":                  {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_power_watts"}},
	"serverscheck":             {class: "environment", yields: []string{"sensor_humidity_percent", "sensor_leak_detected", "sensor_temperature_celsius"}},
	"sm-os_80hdx":              {class: "radio", yields: []string{"radio_capacity_bits_per_second", "radio_signal_dbm"}},
	"socomec-ups":              {class: "ups", yields: []string{"ups_alarms_active", "ups_battery_charge_percent", "ups_battery_low", "ups_battery_replace_needed", "ups_input_frequency_hertz", "ups_input_voltage_volts", "ups_on_battery", "ups_on_bypass", "ups_output_load_percent"}},
	"supermicro-bmc_x11":       {class: "server", yields: []string{"server_fan_rpm", "server_psu_ok", "server_temperature_celsius"}},
	"vertiv-pdu_mg02e4w1":      {class: "pdu", yields: []string{"pdu_current_amperes", "pdu_power_watts", "pdu_voltage_volts"}},
}

// TestEveryRecordingYieldsItsClassMetrics checks issue 12's first
// acceptance line on every recording of ../shared/testdata/snmprec: it
// auto-detects at least one profile and yields its class's normalized
// metrics, else it is listed as an exception with a reason verified
// against the recording. It reads the goldens, which TestGoldenRecordings
// proves equal to what a poll of the recording through a real snmpsimd
// yields (and which a missing golden fails); every value in them must be
// plausible (no sentinel or out-of-range number is ever exported).
func TestEveryRecordingYieldsItsClassMetrics(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "snmprec")
	files, err := filepath.Glob(filepath.Join(dir, "*.snmprec"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s (%v)", dir, err)
	}
	seen := map[string]bool{}
	var exceptions []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			v, ok := coverage[name]
			if !ok {
				t.Fatalf("no coverage verdict for %s: add its class and the class metrics it yields (or an exception and why) to coverage in coverage_test.go", name)
			}
			fam, ok := classFamilies[v.class]
			if !ok {
				t.Fatalf("unknown class %q", v.class)
			}
			names, profiles := goldenNames(t, name)
			if len(profiles) == 0 {
				t.Fatalf("no profile auto-detected (testdata/golden/%s.prom has no snmp_profile_matched)", name)
			}
			var class []string
			for _, n := range names {
				for _, p := range fam {
					if strings.HasPrefix(n, p) {
						class = append(class, n)
						break
					}
				}
			}
			have := map[string]bool{}
			for _, n := range names {
				have[n] = true
			}
			switch {
			case v.exception != "":
				if len(class) > 0 {
					t.Errorf("listed as an exception (%s) but yields %v now: give it its yields", v.exception, class)
				}
				exceptions = append(exceptions, name+" (profiles "+strings.Join(profiles, ", ")+"): "+v.exception)
			case len(v.yields) == 0:
				t.Fatalf("the verdict lists no class metric and no exception")
			default:
				for _, want := range v.yields {
					if !have[want] {
						t.Errorf("yields no %s (class %s); it yields %v", want, v.class, class)
					}
					okFam := false
					for _, p := range fam {
						okFam = okFam || strings.HasPrefix(want, p)
					}
					if !okFam {
						t.Errorf("%s is not a %s metric", want, v.class)
					}
				}
			}
			if v.check != nil {
				v.check(t, rawValues(t, name))
			}
		})
	}
	for name := range coverage {
		if !seen[name] {
			t.Errorf("coverage has a verdict for %s, which is not in %s", name, dir)
		}
	}
	sort.Strings(exceptions)
	for _, e := range exceptions {
		t.Logf("yields no class metric: %s", e)
	}
}

// goldenNames reads testdata/golden/<name>.prom: the metric names it holds
// (sorted, without snmp_profile_matched) and the profiles that matched.
// Every value must be plausible for its metric.
func goldenNames(t *testing.T, name string) (names, profiles []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "golden", name+".prom"))
	if err != nil {
		t.Fatalf("%v (TestGoldenRecordings -update writes it)", err)
	}
	defer f.Close()
	set := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	table := embeddedPlausibility()
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# poll error") {
			t.Fatalf("the poll fails: %s", line)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		series, val := line[:sp], line[sp+1:]
		metric, _, _ := strings.Cut(series, "{")
		if metric == "snmp_profile_matched" {
			p := strings.TrimSuffix(strings.TrimPrefix(series, `snmp_profile_matched{profile="`), `"}`)
			profiles = append(profiles, p)
			continue
		}
		set[metric] = true
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Errorf("%s: value %q", series, val)
			continue
		}
		if r, ok := table.For(metric); ok && !r.Plausible(x) {
			t.Errorf("%s = %s is outside %s", series, val, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, profiles
}

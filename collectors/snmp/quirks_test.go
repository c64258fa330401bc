package snmp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// derive writes, in dir, recording name made from the shared recording
// from with lines replaced (OID -> new line, "" deletes) and lines
// inserted after an OID. The shared file is only read: the derived one
// lives in the test's temporary folder.
func derive(t *testing.T, dir, name, from string, replace map[string]string, after map[string][]string) {
	t.Helper()
	in, err := os.Open(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), from+".snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var b strings.Builder
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		oid, _, _ := strings.Cut(line, "|")
		if r, ok := replace[oid]; ok {
			seen[oid] = true
			line = r
		}
		if line != "" {
			b.WriteString(line + "\n")
		}
		for _, l := range after[oid] {
			seen[oid] = true
			b.WriteString(l + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for oid := range replace {
		if !seen[oid] {
			t.Fatalf("%s has no %s", from, oid)
		}
	}
	for oid := range after {
		if !seen[oid] {
			t.Fatalf("%s has no %s", from, oid)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name+".snmprec"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rawValues reads a shared recording into OID -> value text.
func rawValues(t *testing.T, name string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), name+".snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) == 3 {
			out[parts[0]] = parts[2]
		}
	}
	return out
}

// gatheredWith returns the value of the series of name carrying every
// label of want.
func gatheredWith(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metrics
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

// TestQuirksOfRealRecordings polls real recordings (served by snmpsimd)
// that carry each quirk of issue 12, and recordings derived from real ones
// at test time for the quirks no recording has: a wrong value never
// reaches the emitted samples, and what is dropped is counted on the
// registry the kind was given.
func TestQuirksOfRealRecordings(t *testing.T) {
	dir := t.TempDir()
	// No shared recording reports upsEstimatedMinutesRemaining as Gauge32 max
	// (Tripp Lite's is 24): derived.
	derive(t, dir, "derived-gauge32max", "poweralert_2",
		map[string]string{"1.3.6.1.2.1.33.1.2.3.0": "1.3.6.1.2.1.33.1.2.3.0|66|4294967295"}, nil)
	// No shared recording has phantom phases: the single-phase Tripp Lite
	// (upsInputNumLines = upsOutputNumLines = 1) given two more rows at 0.
	derive(t, dir, "derived-phantom", "poweralert_2", nil, map[string][]string{
		"1.3.6.1.2.1.33.1.3.3.1.3.1": {"1.3.6.1.2.1.33.1.3.3.1.3.2|2|0", "1.3.6.1.2.1.33.1.3.3.1.3.3|2|0"},
		"1.3.6.1.2.1.33.1.4.4.1.5.1": {"1.3.6.1.2.1.33.1.4.4.1.5.2|2|0", "1.3.6.1.2.1.33.1.4.4.1.5.3|2|0"},
	})
	// The MGE Galaxy with a voltage that is mains at no scale.
	derive(t, dir, "derived-galaxy-implausible", "apc-mgeups_galaxy7000",
		map[string]string{"1.3.6.1.2.1.33.1.3.3.1.3.1.0": "1.3.6.1.2.1.33.1.3.3.1.3.1.0|66|99999"}, nil)
	// The Sensatronics EM1 recording lacks unitMode, the unit of its
	// readings: copies that say Fahrenheit and Celsius.
	for unit, name := range map[string]string{"F": "derived-em1-fahrenheit", "C": "derived-em1-celsius"} {
		derive(t, dir, name, "sensatronics-em1", nil, map[string][]string{
			"1.3.6.1.4.1.16174.1.1.3.1.1.0": {"1.3.6.1.4.1.16174.1.1.3.2.3.1.0|4|" + unit},
		})
	}
	addr, _ := startSimd(t, dir, "apc-mgeups_galaxy7000", "netvision-rfc", "dnos_bgp", "dell-os10", "apc_emu",
		"gaia_15600", "hpe-ilo_4", "poweralert_2", "derived-gauge32max", "derived-phantom", "derived-galaxy-implausible",
		"socomec-ups", "eatonpdu_dbq", "sentry3_3phase", "nxos_n3k-3064pq", "derived-em1-fahrenheit", "derived-em1-celsius")

	reg := prometheus.NewRegistry()
	kind := NewKind(nil, 4)
	if err := kind.Register(reg); err != nil {
		t.Fatal(err)
	}
	type polled struct {
		c       *Collector
		samples map[string]float64
		logs    *logBuffer
	}
	pollOnce := func(t *testing.T, p *polled) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.samples = map[string]float64{}
		err := p.c.Collect(ctx, func(s model.Sample) {
			k := s.Name
			if len(s.Labels) > 0 {
				k += s.Labels.String()
			}
			p.samples[k] = s.Value
		})
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	newPolled := func(t *testing.T, community string) *polled {
		t.Helper()
		logs := &logBuffer{}
		opts := fmt.Sprintf("snmp: {address: %q, community: %q, timeout: 3s}\n", addr, community)
		c, err := kind.New(collectors.Spec{Name: community, Logger: slog.New(slog.NewTextHandler(logs, nil))}, func(out any) error {
			dec := yaml.NewDecoder(strings.NewReader(opts))
			dec.KnownFields(true)
			return dec.Decode(out)
		})
		if err != nil {
			t.Fatal(err)
		}
		p := &polled{c: c.(*Collector), logs: logs}
		pollOnce(t, p)
		return p
	}
	counted := func(t *testing.T, target, metric, reason string) float64 {
		t.Helper()
		v, _ := gatheredWith(t, reg, "vedetta_snmp_implausible_values_total", map[string]string{"target": target, "metric": metric, "reason": reason})
		return v
	}
	// Every emitted sample with a known range is plausible.
	allPlausible := func(t *testing.T, p *polled) {
		t.Helper()
		for k, v := range p.samples {
			name, _, _ := strings.Cut(k, "{")
			if r, ok := embeddedPlausibility().For(name); ok && !r.Plausible(v) {
				t.Errorf("%s = %v is outside %s", k, v, r)
			}
		}
	}

	t.Run("tenths voltage autoscaled once", func(t *testing.T) {
		p := newPolled(t, "apc-mgeups_galaxy7000")
		pollOnce(t, p) // a second poll: the choice is remembered, not logged again
		if v, ok := p.samples[`ups_input_voltage_volts{line="1"}`]; !ok || v != 236.3 {
			t.Errorf(`ups_input_voltage_volts{line="1"} = %v (present %v), want 236.3 (raw 2363 in tenths)`, v, ok)
		}
		for k := range p.samples {
			if strings.Contains(k, `line="1.0"`) {
				t.Errorf("%s: the RFC 1628 line is the first index part", k)
			}
		}
		if n := strings.Count(p.logs.String(), "snmp autoscale chosen"); n != 1 || !strings.Contains(p.logs.String(), "raw=2363") {
			t.Errorf("autoscale logged %d times, want once with raw=2363:\n%s", n, p.logs.String())
		}
		allPlausible(t, p)
	})
	t.Run("another device at the address: its own scale", func(t *testing.T) {
		p := newPolled(t, "apc-mgeups_galaxy7000")
		if v := p.samples[`ups_input_voltage_volts{line="1"}`]; v != 236.3 {
			t.Fatalf("galaxy: %v", v)
		}
		// The card is replaced by a Tripp Lite's (volts, not tenths).
		p.c.mu.Lock()
		p.c.agent.Community = secret("poweralert_2")
		p.c.detectedAt = time.Time{}
		p.c.mu.Unlock()
		pollOnce(t, p)
		if v, ok := p.samples[`ups_input_voltage_volts{line="1"}`]; !ok || v != 122 {
			t.Errorf("after the swap: %v (present %v), want 122: the galaxy's 0.1 was kept", v, ok)
		}
		if !strings.Contains(p.logs.String(), "snmp autoscale choices forgotten") {
			t.Errorf("the reset is not logged:\n%s", p.logs.String())
		}
	})
	t.Run("implausible at every scale: dropped and counted", func(t *testing.T) {
		p := newPolled(t, "derived-galaxy-implausible")
		for k := range p.samples {
			if strings.HasPrefix(k, "ups_input_voltage_volts") {
				t.Errorf("%s = %v exported from raw 99999", k, p.samples[k])
			}
		}
		if n := counted(t, "derived-galaxy-implausible", "ups_input_voltage_volts", ReasonOutOfRange); n != 1 {
			t.Errorf("counted %v on the kind's registry, want 1", n)
		}
		if n := p.c.Implausible("ups_input_voltage_volts", ReasonOutOfRange); n != 1 {
			t.Errorf("Implausible = %v, want 1", n)
		}
		if _, ok := gatheredWith(t, prometheus.DefaultGatherer, "vedetta_snmp_implausible_values_total", nil); ok {
			t.Errorf("the counter is on the default registry")
		}
	})
	t.Run("Gauge32 max runtime is a sentinel", func(t *testing.T) {
		p := newPolled(t, "derived-gauge32max")
		if v, ok := p.samples["ups_battery_runtime_seconds"]; ok {
			t.Errorf("ups_battery_runtime_seconds = %v exported from upsEstimatedMinutesRemaining 4294967295", v)
		}
		if v := p.samples["ups_battery_charge_percent"]; v != 100 {
			t.Errorf("the rest of the UPS must still be there: charge %v", v)
		}
		if n := counted(t, "derived-gauge32max", "ups_battery_runtime_seconds", ReasonSentinel); n != 1 {
			t.Errorf("sentinel counted %v, want 1", n)
		}
	})
	t.Run("65535 minutes is a sentinel", func(t *testing.T) {
		p := newPolled(t, "netvision-rfc")
		if v, ok := p.samples["ups_battery_runtime_seconds"]; ok {
			t.Errorf("ups_battery_runtime_seconds = %v exported from 65535", v)
		}
		if n := counted(t, "netvision-rfc", "ups_battery_runtime_seconds", ReasonSentinel); n != 1 {
			t.Errorf("the profile's own sentinel counted %v, want 1", n)
		}
	})
	t.Run("no phantom phases", func(t *testing.T) {
		p := newPolled(t, "derived-phantom")
		for _, k := range []string{`ups_input_voltage_volts{line="2"}`, `ups_input_voltage_volts{line="3"}`, `ups_output_load_percent{line="2"}`, `ups_output_load_percent{line="3"}`} {
			if v, ok := p.samples[k]; ok {
				t.Errorf("%s = %v: the UPS says it has one line", k, v)
			}
		}
		if v := p.samples[`ups_input_voltage_volts{line="1"}`]; v != 122 {
			t.Errorf(`line 1 = %v, want 122`, v)
		}
		if v := p.samples[`ups_output_load_percent{line="1"}`]; v != 27 {
			t.Errorf(`load line 1 = %v, want 27`, v)
		}
	})
	t.Run("64-bit counters are exact", func(t *testing.T) {
		p := newPolled(t, "dnos_bgp")
		raw := rawValues(t, "dnos_bgp")
		const hcIn, ifName = "1.3.6.1.2.1.31.1.1.1.6.", "1.3.6.1.2.1.31.1.1.1.1."
		checked, big32 := 0, 0
		for oid, val := range raw {
			idx, ok := strings.CutPrefix(oid, hcIn)
			if !ok {
				continue
			}
			want, ok := new(big.Int).SetString(val, 10)
			if !ok || want.Cmp(big.NewInt(1<<53)) > 0 {
				continue
			}
			var got float64
			found := false
			for k, v := range p.samples {
				if strings.HasPrefix(k, "if_in_bytes_total{") && strings.Contains(k, `ifname="`+raw[ifName+idx]+`"`) {
					got, found = v, true
				}
			}
			if !found {
				t.Errorf("no if_in_bytes_total for %s (%s)", raw[ifName+idx], idx)
				continue
			}
			if FormatValue(got) != want.String() || got != math.Trunc(got) {
				t.Errorf("if_in_bytes_total{ifname=%q} = %s, raw Counter64 %s", raw[ifName+idx], FormatValue(got), want)
			}
			checked++
			if want.Cmp(big.NewInt(1<<32)) > 0 {
				big32++
			}
		}
		if checked < 100 || big32 < 10 {
			t.Fatalf("checked %d counters (%d above 2^32): the recording should have more", checked, big32)
		}
	})
	t.Run("OS10: no unmounted /var, no bind mounts", func(t *testing.T) {
		p := newPolled(t, "dell-os10")
		if v, ok := p.samples[`host_filesystem_used_ratio{mountpoint="/var"}`]; ok {
			t.Errorf("/var = %v: dskTotal 0, it is not mounted", v)
		}
		for k := range p.samples {
			if strings.Contains(k, "pam-update-jail") {
				t.Errorf("%s: a bind mount of /", k)
			}
		}
		if v := p.samples[`host_filesystem_used_ratio{mountpoint="/"}`]; v <= 0.2 || v >= 0.3 {
			t.Errorf("/ = %v, want about 0.28", v)
		}
	})
	t.Run("APC EMU: no humidity from temperature-only probes", func(t *testing.T) {
		p := newPolled(t, "apc_emu")
		for _, s := range []string{"Airco kamer", "Retour airco kamer"} {
			if v, ok := p.samples[`sensor_humidity_percent{sensor="`+s+`"}`]; ok {
				t.Errorf("%s humidity = %v: memSensorsHumidity says -1 (none)", s, v)
			}
		}
		if v := p.samples[`sensor_humidity_percent{sensor="Airco uitstroom"}`]; v != 30 {
			t.Errorf("Airco uitstroom humidity = %v, want 30", v)
		}
	})
	t.Run("interface speeds: 65535 Mbit/s and loopbacks", func(t *testing.T) {
		gaia := newPolled(t, "gaia_15600")
		for _, k := range []string{`if_speed_bits_per_second{ifalias="",ifname="bond2"}`, `if_speed_bits_per_second{ifalias="",ifname="lo"}`} {
			if v, ok := gaia.samples[k]; ok {
				t.Errorf("gaia %s = %v", k, v)
			}
		}
		if v := gaia.samples[`if_speed_bits_per_second{ifalias="",ifname="eth2-01"}`]; v != 40e9 {
			t.Errorf("gaia eth2-01 = %v, want 40 Gbit/s", v)
		}
		ilo := newPolled(t, "hpe-ilo_4")
		if v, ok := ilo.samples[`if_speed_bits_per_second{ifalias="",ifname="Software Loopback Interface 1"}`]; ok {
			t.Errorf("iLO loopback speed = %v", v)
		}
		allPlausible(t, gaia)
		allPlausible(t, ilo)
	})

	t.Run("Gauge32 max in the wild: ifSpeed 4294967295 without ifHighSpeed", func(t *testing.T) {
		// The iLO's three Hyper-V switch adapters report ifSpeed = Gauge32
		// max and the agent has no ifXTable: no 4.29 Gbit/s is exported.
		raw := rawValues(t, "hpe-ilo_4")
		maxed := 0
		for oid, v := range raw {
			if strings.HasPrefix(oid, "1.3.6.1.2.1.2.2.1.5.") && v == "4294967295" {
				maxed++
			}
			if strings.HasPrefix(oid, "1.3.6.1.2.1.31.1.1.1.15.") {
				t.Fatalf("the recording has ifHighSpeed (%s): the quirk is not what this test says", oid)
			}
		}
		if maxed != 3 {
			t.Fatalf("the recording has %d ifSpeed = 4294967295, want 3", maxed)
		}
		p := newPolled(t, "hpe-ilo_4")
		for k, v := range p.samples {
			if strings.HasPrefix(k, "if_speed_bits_per_second") && v >= 4294967295 {
				t.Errorf("%s = %v exported from Gauge32 max", k, v)
			}
		}
		if n := p.c.Implausible("if_speed_bits_per_second", ReasonSentinel); n != 3 {
			t.Errorf("ifSpeed sentinels counted %v, want 3", n)
		}
	})
	t.Run("Socomec vendor MIB: 65535 minutes off battery, tenths", func(t *testing.T) {
		p := newPolled(t, "socomec-ups")
		if v, ok := p.samples["ups_battery_runtime_seconds"]; ok {
			t.Errorf("ups_battery_runtime_seconds = %v exported from upsEstimatedMinutesRemaining 65535", v)
		}
		if n := p.c.Implausible("ups_battery_runtime_seconds", ReasonSentinel); n != 1 {
			t.Errorf("sentinel counted %v, want 1", n)
		}
		for k, want := range map[string]float64{`ups_input_voltage_volts{line="1"}`: 240, "ups_input_frequency_hertz": 50, `sensor_temperature_celsius{sensor="ambient"}`: 21, "ups_on_battery": 0} {
			if v, ok := p.samples[k]; !ok || v != want {
				t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
			}
		}
		if v, ok := p.samples["ups_battery_temperature_celsius"]; ok {
			t.Errorf("battery temperature %v exported from 0 (no probe)", v)
		}
		allPlausible(t, p)
	})
	t.Run("phantom 0 V and -1 readings on PDUs", func(t *testing.T) {
		// The Eaton ePDU's outlets 16-19 are on and read 0 V (no voltage
		// metering), the Sentry3's neutral infeed -1 V: a "< 200 V" rule
		// must not see them.
		eaton := newPolled(t, "eatonpdu_dbq")
		for _, o := range []string{"16", "17", "18", "19"} {
			if v, ok := eaton.samples[`pdu_voltage_volts{outlet="`+o+`"}`]; ok {
				t.Errorf("outlet %s voltage %v exported from 0", o, v)
			}
			if v := eaton.samples[`pdu_outlet_on{outlet="`+o+`"}`]; v != 1 {
				t.Errorf("outlet %s on = %v, want 1", o, v)
			}
		}
		if v := eaton.samples[`pdu_voltage_volts{outlet="0"}`]; v != 244 {
			t.Errorf("outlet 0 voltage %v, want 244 V (the MIB says millivolts, the agent sends volts)", v)
		}
		if n := strings.Count(eaton.logs.String(), "snmp autoscale chosen"); n != 1 || !strings.Contains(eaton.logs.String(), "autoscale_factor=1") {
			t.Errorf("autoscale logged %d times, want once with factor 1:\n%s", n, eaton.logs.String())
		}
		sentry := newPolled(t, "sentry3_3phase")
		for k := range sentry.samples {
			if strings.Contains(k, "TowerA_Neutral") && !strings.HasPrefix(k, "pdu_current_amperes") {
				t.Errorf("%s exported from the neutral's -1", k)
			}
		}
		if v := sentry.samples[`pdu_current_amperes{phase="TowerA_Neutral"}`]; v != 2.12 {
			t.Errorf("neutral current %v, want 2.12 A", v)
		}
		allPlausible(t, eaton)
		allPlausible(t, sentry)
	})
	t.Run("NX-OS optics: 0 dBm is no light", func(t *testing.T) {
		p := newPolled(t, "nxos_n3k-3064pq")
		if v := p.samples[`sensor_power_dbm{sensor="Ethernet1/1 Lane 1 Transceiver Receive Power Sensor"}`]; v != -13.187 {
			t.Errorf("Ethernet1/1 RX = %v, want -13.187 dBm", v)
		}
		if v, ok := p.samples[`sensor_power_dbm{sensor="Ethernet1/2 Lane 1 Transceiver Receive Power Sensor"}`]; ok {
			t.Errorf("Ethernet1/2 RX = %v exported from 0 (a down port without light)", v)
		}
		if n := p.c.Implausible("sensor_power_dbm", ReasonSentinel); n != 6 {
			t.Errorf("0 dBm readings counted %v, want 6", n)
		}
	})
	t.Run("Sensatronics EM1: temperatures only with a unit", func(t *testing.T) {
		if p := newPolled(t, "derived-em1-fahrenheit"); p.samples[`sensor_temperature_celsius{sensor="Group 1"}`] != 12.4 ||
			p.samples[`sensor_temperature_celsius{sensor="Group 3"}`] != 22.3 {
			t.Errorf("Fahrenheit copy: %v, want 54.3 F = 12.4 C and 72.2 F = 22.3 C", p.samples)
		}
		if p := newPolled(t, "derived-em1-celsius"); p.samples[`sensor_temperature_celsius{sensor="Group 1"}`] != 54.3 {
			t.Errorf("Celsius copy: %v, want 54.3", p.samples)
		}
		p := newPolled(t, "derived-em1-fahrenheit")
		for k := range p.samples {
			if strings.HasPrefix(k, "sensor_humidity_percent") {
				t.Errorf("%s exported from -999.9 (no probe)", k)
			}
		}
	})

	// A reload: the next generation's kind registers on the same registry
	// and counts on.
	kind2 := NewKind(nil, 4)
	if err := kind2.Register(reg); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	if kind2.implausible.Load() != kind.implausible.Load() {
		t.Errorf("the next generation has another counter")
	}
}

// TestRegisterAfterNew: the daemon builds a config's targets before its
// registry exists (a config is checked first), then registers the kind:
// the collectors built before count on the registry all the same.
func TestRegisterAfterNew(t *testing.T) {
	kind := NewKind(nil, 1)
	c, err := kind.New(collectors.Spec{Name: "ups-a", Logger: slog.New(slog.DiscardHandler)}, func(out any) error {
		return yaml.NewDecoder(strings.NewReader("snmp: {address: \"127.0.0.1:1\", community: public}\n")).Decode(out)
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := kind.Register(reg); err != nil {
		t.Fatal(err)
	}
	c.(*Collector).guard.count("ups_battery_runtime_seconds", ReasonSentinel)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vedetta_snmp_implausible_values_total" && len(mf.Metric) == 1 && mf.Metric[0].GetCounter().GetValue() == 1 {
			return
		}
	}
	t.Fatalf("the value dropped by a collector built before Register was not counted: %v", mfs)
}

// TestCountersExactInEveryGolden: every recording that has 64-bit octet
// counters above 2^32 (15 of them; dnos_bgp up to 8.15e15) must show them
// in its golden digit for digit, as the agent sent them (no float round
// trip: 1802190559312.9998 is what issue 12 saw elsewhere). The goldens
// are what a poll through snmpsimd yields (TestGoldenRecordings).
func TestCountersExactInEveryGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), "*.snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	recordings := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		raw := rawValues(t, name)
		hc := map[string]bool{} // raw Counter64 texts above 2^32
		for oid, v := range raw {
			if !strings.HasPrefix(oid, "1.3.6.1.2.1.31.1.1.1.6.") && !strings.HasPrefix(oid, "1.3.6.1.2.1.31.1.1.1.10.") {
				continue
			}
			if n, ok := new(big.Int).SetString(v, 10); ok && n.Cmp(big.NewInt(1<<32)) > 0 {
				hc[v] = true
			}
		}
		if len(hc) == 0 {
			continue
		}
		recordings++
		golden, err := os.ReadFile(filepath.Join("testdata", "golden", name+".prom"))
		if err != nil {
			t.Fatal(err)
		}
		exported := 0
		for _, line := range strings.Split(string(golden), "\n") {
			if !strings.HasPrefix(line, "if_in_bytes_total{") && !strings.HasPrefix(line, "if_out_bytes_total{") {
				continue
			}
			v := line[strings.LastIndexByte(line, ' ')+1:]
			n, ok := new(big.Int).SetString(v, 10)
			if !ok {
				t.Errorf("%s: %q is not a whole number", name, line)
				continue
			}
			if n.Cmp(big.NewInt(1<<32)) <= 0 {
				continue
			}
			exported++
			if !hc[v] {
				t.Errorf("%s: %q matches no ifHCIn/OutOctets of the recording digit for digit", name, line)
			}
		}
		if exported == 0 {
			t.Errorf("%s: the recording has %d 64-bit counters above 2^32, the golden none", name, len(hc))
		}
	}
	if recordings < 15 {
		t.Errorf("%d recordings with 64-bit counters above 2^32, want the 15 counted when this test was written", recordings)
	}
}

// TestSiblingRowLabel: the label option row.sibling (Rittal CMC III)
// names a variable by the DescName row of its group, in the same device
// only, and is checked when a profile is loaded.
func TestSiblingRowLabel(t *testing.T) {
	p, err := ParseProfile([]byte(`name: s
mib: S
match: {subtrees: [1]}
metrics:
  - name: sensor_temperature_celsius
    walk: 1.11
    labels: {sensor: {column: 1.10, row: {sibling: {column: 1.3, last: DescName}}, default: none}}
`), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := p.Metrics[0]
	v := newView()
	str := func(oid, s string) {
		v.add(gosnmp.SnmpPDU{Name: oid, Type: gosnmp.OctetString, Value: []byte(s)}, true)
	}
	for _, r := range [][3]string{
		{"1.1", "Temperature.DescName", "Schranktemperatur"},
		{"1.2", "Temperature.Value", "20.90 degree C"},
		{"1.3", "System.Temperature.DescName", "Sys Temp"},
		{"1.4", "System.Temperature.Value", "43.20 degree C"},
		{"2.1", "Temperature.DescName", "other device"},
		{"3.2", "Temperature.Value", "18.80 degree C"}, // device 3 has no DescName
		{"4.1", "Value", "no dot"},
	} {
		str("1.3."+r[0], r[1])
		str("1.10."+r[0], r[2])
	}
	v.finish()
	for idx, want := range map[string]string{"1.2": "Schranktemperatur", "1.4": "Sys Temp", "3.2": "none", "4.1": "none", "9.9": "none"} {
		ls, _ := m.labels(v, idx)
		if got := ls.Get("sensor"); got != want {
			t.Errorf("row %s: sensor = %q, want %q", idx, got, want)
		}
	}
	for _, c := range []struct{ label, want string }{
		{`{column: 1.10, row: {sibling: {column: 1.x, last: DescName}}}`, `row.sibling.column: "1.x" is not a numeric OID`},
		{`{column: 1.10, row: {sibling: {column: 1.3, last: A.B}}}`, "row.sibling.last"},
		{`{column: 1.10, row: {sibling: {column: 1.3}}}`, "row.sibling.last"},
		{`{column: 1.10, row: {index_part: 1, sibling: {column: 1.3, last: D}}}`, "give exactly one of index_part and column"},
	} {
		_, err := ParseProfile([]byte("name: p\nmib: M\nmatch: {subtrees: [1]}\nmetrics:\n  - {name: m, walk: 1.2, labels: {x: "+c.label+"}}\n"), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:5: metrics[0].labels.x") {
			t.Errorf("%s: error %v, want one naming p.yaml, the metric and %q", c.label, err, c.want)
		}
	}
}

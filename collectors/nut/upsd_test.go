package nut

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// rig is a real upsd with one dummy-ups driver per dump (testpeer.UPSD);
// UPS names come from the dump file names.
type rig struct {
	*testpeer.UPSD
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// upsName turns a dump file name into a NUT UPS name.
func upsName(file string) string {
	n := nonName.ReplaceAllString(strings.ToLower(strings.TrimSuffix(file, ".dev")), "_")
	return strings.Trim(n, "_")
}

func startRig(t *testing.T, dumps []string) *rig {
	t.Helper()
	m := map[string]string{}
	for _, d := range dumps {
		m[upsName(filepath.Base(d))] = d
	}
	return &rig{testpeer.StartUPSD(t, m)}
}

// waitReady collects until every UPS answers with a known status.
func (r *rig) waitReady(t *testing.T, c collectors.Collector) {
	t.Helper()
	testpeer.WaitFor(t, 20*time.Second, "upsd serving every UPS", func() bool {
		got, err := collectortest.Collect(c, 5*time.Second)
		if err != nil {
			return false
		}
		n := 0
		for _, s := range got {
			if s.Name == "nut_ups_up" && s.Value == 1 {
				n++
			}
		}
		return n == len(r.Dumps)
	})
}

func dumps(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testpeer.SharedTestdata(t, "nut"), "*.dev"))
	if len(files) == 0 {
		t.Fatal("no NUT dumps")
	}
	return files
}

// TestRealUPSD reads every dump through a real upsd, compares each UPS's
// samples with its golden file, then flips one UPS to "OB LB" with upsrw
// and sees ups_on_battery and ups_battery_low follow.
func TestRealUPSD(t *testing.T) {
	r := startRig(t, dumps(t))
	c := newCollector(t, fmt.Sprintf("nut: {address: %q, username: monitor, password: monpass}", r.Addr))
	r.waitReady(t, c)
	got, err := collectortest.Collect(c, 5*time.Second)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if v, _ := collectortest.Value(got, "nut_ups_listed"); int(v) != len(r.Dumps) {
		t.Errorf("nut_ups_listed = %v, want %d", v, len(r.Dumps))
	}
	if v, ok := collectortest.Value(got, "nut_tls"); !ok || v != 0 {
		t.Errorf("nut_tls = %v %v: Debian's upsd has no certificate here, want 0", v, ok)
	}
	for _, name := range r.Names() {
		t.Run(r.Dumps[name], func(t *testing.T) {
			var mine []model.Sample
			for _, s := range got {
				if s.Labels.Get("ups") == name {
					mine = append(mine, s)
				}
			}
			collectortest.Golden(t, filepath.Join("testdata", strings.TrimSuffix(r.Dumps[name], ".dev")+".golden"), collectortest.Render(mine))
		})
	}
	// Spot checks that do not depend on the golden files being right.
	checks := []struct {
		ups, metric, label string
		want               float64
	}{
		{"apc_smart_ups_2200_usbhid_ups_2_7_4_01", "ups_on_battery", "", 1},
		{"apc_smart_ups_1000_snmp_ups_2_7_4_02", "ups_on_battery", "", 0},
		{"eaton_93ps_snmp_ups_2_7_3_167_g0a00ddb_01", "ups_alarms_active", "", 2},
		{"eaton_93ps_snmp_ups_2_7_3_167_g0a00ddb_01", "ups_input_voltage_volts", "3", 229},
		{"eaton_ats_230v_16a_snmp_ups_2_7_4_01", "ats_selected_source", "", 1},
		{"eaton_ats_230v_16a_snmp_ups_2_7_4_01", "ats_redundancy_lost", "", 0},
	}
	for _, ck := range checks {
		labels := []string{"ups", ck.ups}
		if ck.label != "" {
			labels = append(labels, "line", ck.label)
		}
		if v, ok := collectortest.Value(got, ck.metric, labels...); !ok || v != ck.want {
			t.Errorf("%s{ups=%s} = %v (present %v), want %v", ck.metric, ck.ups, v, ok, ck.want)
		}
	}
	if _, ok := collectortest.Value(got, "ups_on_battery", "ups", "eaton_ats_230v_16a_snmp_ups_2_7_4_01"); ok {
		t.Error("an ATS must give ats_* metrics, not ups_*")
	}

	t.Run("flip to OB LB with upsrw", func(t *testing.T) {
		const ups = "eaton_9px_snmp_ups_2_7_4_01"
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.Addr, ups))
		for _, set := range []string{"ups.status=OB LB", "battery.charge=9"} {
			r.Set(t, ups, set)
		}
		testpeer.WaitFor(t, 15*time.Second, "ups_on_battery=1 and ups_battery_low=1", func() bool {
			got, err := collectortest.Collect(one, 5*time.Second)
			ob, _ := collectortest.Value(got, "ups_on_battery")
			lb, _ := collectortest.Value(got, "ups_battery_low")
			ch, _ := collectortest.Value(got, "ups_battery_charge_percent")
			return err == nil && ob == 1 && lb == 1 && ch == 9
		})
	})

	t.Run("edit the dump file", func(t *testing.T) {
		const ups = "cyber_power_systems_pr2200lcdrt2u_snmp_ups_2_7_2_01"
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.Addr, ups))
		p := filepath.Join(r.Etc, r.Dumps[ups])
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		edited := regexp.MustCompile(`(?m)^ups\.status: .*$`).ReplaceAll(b, []byte("ups.status: OB DISCHRG LB RB"))
		if err := os.WriteFile(p, edited, 0o644); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(2 * time.Second)
		_ = os.Chtimes(p, future, future) // mtime must change for dummy-ups to re-read
		testpeer.WaitFor(t, 15*time.Second, "OB LB RB from the edited dump", func() bool {
			got, err := collectortest.Collect(one, 5*time.Second)
			ob, _ := collectortest.Value(got, "ups_on_battery")
			lb, _ := collectortest.Value(got, "ups_battery_low")
			rb, _ := collectortest.Value(got, "ups_battery_replace_needed")
			return err == nil && ob == 1 && lb == 1 && rb == 1
		})
	})

	t.Run("unknown UPS", func(t *testing.T) {
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: nosuchups}", r.Addr))
		got, err := collectortest.Collect(one, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "UNKNOWN-UPS") {
			t.Errorf("err = %v, want ERR UNKNOWN-UPS", err)
		}
		if v, ok := collectortest.Value(got, "nut_ups_up", "ups", "nosuchups"); !ok || v != 0 {
			t.Errorf("nut_ups_up = %v %v, want 0", v, ok)
		}
	})

	t.Run("tls required but not offered", func(t *testing.T) {
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, tls: required}", r.Addr))
		if _, err := collectortest.Collect(one, 5*time.Second); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("err = %v, want a STARTTLS error", err)
		}
	})
}

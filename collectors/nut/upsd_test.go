package nut

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// rig is a real upsd with one dummy-ups driver per dump (RIG.md section 4).
type rig struct {
	addr  string
	etc   string
	env   []string
	names map[string]string // ups name -> dump file
	procs []*testpeer.Proc
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// upsName turns a dump file name into a NUT UPS name.
func upsName(file string) string {
	n := nonName.ReplaceAllString(strings.ToLower(strings.TrimSuffix(file, ".dev")), "_")
	return strings.Trim(n, "_")
}

// startRig copies the dumps into a private config dir (dummy-ups may need
// to write next to them, and tests edit them) and starts drivers and upsd.
func startRig(t *testing.T, dumps []string) *rig {
	t.Helper()
	upsd := testpeer.Need(t, "/lib/nut/upsd", "/usr/lib/nut/upsd", "/usr/sbin/upsd")
	dummy := testpeer.Need(t, "/lib/nut/dummy-ups", "/usr/lib/nut/dummy-ups")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &rig{etc: filepath.Join(dir, "etc"), names: map[string]string{}}
	state := filepath.Join(dir, "state")
	for _, d := range []string{r.etc, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var upsConf strings.Builder
	for _, src := range dumps {
		base := filepath.Base(src)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.etc, base), b, 0o644); err != nil {
			t.Fatal(err)
		}
		name := upsName(base)
		r.names[name] = base
		fmt.Fprintf(&upsConf, "[%s]\n  driver = dummy-ups\n  port = %s\n  desc = %q\n  pollinterval = 1\n", name, base, base)
	}
	port := testpeer.FreePort(t)
	r.addr = testpeer.Addr(port)
	files := map[string]string{
		"ups.conf":    upsConf.String(),
		"upsd.conf":   fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXAGE 15\n", port),
		"upsd.users":  "[admin]\n  password = adminpass\n  actions = SET\n  instcmds = ALL\n[monitor]\n  password = monpass\n  upsmon secondary\n",
		"nut.conf":    "MODE=netserver\n",
		"upsmon.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.etc, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r.env = []string{"NUT_CONFPATH=" + r.etc, "NUT_STATEPATH=" + state, "NUT_ALTPIDPATH=" + state}
	names := r.upsNames()
	for _, name := range names {
		r.procs = append(r.procs, testpeer.Start(t, r.env, dummy, "-a", name, "-u", u.Username, "-F"))
	}
	for _, name := range names {
		testpeer.WaitFor(t, 15*time.Second, "dummy-ups socket for "+name, func() bool {
			m, _ := filepath.Glob(filepath.Join(state, "dummy-ups-"+name))
			return len(m) == 1
		})
	}
	r.procs = append(r.procs, testpeer.Start(t, r.env, upsd, "-u", u.Username, "-F"))
	// SIGTERM makes upsd and each driver take ~2 s to exit, one after the
	// other; they hold nothing worth a clean shutdown, so kill them at once.
	t.Cleanup(func() {
		for _, p := range r.procs {
			_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	return r
}

func (r *rig) upsNames() []string {
	var names []string
	for n := range r.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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
		return n == len(r.names)
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
	c := newCollector(t, fmt.Sprintf("nut: {address: %q, username: monitor, password: monpass}", r.addr))
	r.waitReady(t, c)
	got, err := collectortest.Collect(c, 5*time.Second)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if v, _ := collectortest.Value(got, "nut_ups_listed"); int(v) != len(r.names) {
		t.Errorf("nut_ups_listed = %v, want %d", v, len(r.names))
	}
	if v, ok := collectortest.Value(got, "nut_tls"); !ok || v != 0 {
		t.Errorf("nut_tls = %v %v: Debian's upsd has no certificate here, want 0", v, ok)
	}
	for _, name := range r.upsNames() {
		t.Run(r.names[name], func(t *testing.T) {
			var mine []collectors.Sample
			for _, s := range got {
				if s.Labels.Get("ups") == name {
					mine = append(mine, s)
				}
			}
			collectortest.Golden(t, filepath.Join("testdata", strings.TrimSuffix(r.names[name], ".dev")+".golden"), collectortest.Render(mine))
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
		upsrw := testpeer.Need(t, "upsrw", "/usr/bin/upsrw")
		const ups = "eaton_9px_snmp_ups_2_7_4_01"
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.addr, ups))
		for _, set := range []string{"ups.status=OB LB", "battery.charge=9"} {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			cmd := exec.CommandContext(ctx, upsrw, "-s", set, "-u", "admin", "-p", "adminpass", "-w", ups+"@"+r.addr)
			cmd.Env = append(os.Environ(), r.env...)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("upsrw -s %s: %v\n%s", set, err, out)
			}
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
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: %s}", r.addr, ups))
		p := filepath.Join(r.etc, r.names[ups])
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
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, ups: nosuchups}", r.addr))
		got, err := collectortest.Collect(one, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "UNKNOWN-UPS") {
			t.Errorf("err = %v, want ERR UNKNOWN-UPS", err)
		}
		if v, ok := collectortest.Value(got, "nut_ups_up", "ups", "nosuchups"); !ok || v != 0 {
			t.Errorf("nut_ups_up = %v %v, want 0", v, ok)
		}
	})

	t.Run("tls required but not offered", func(t *testing.T) {
		one := newCollector(t, fmt.Sprintf("nut: {address: %q, tls: required}", r.addr))
		if _, err := collectortest.Collect(one, 5*time.Second); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("err = %v, want a STARTTLS error", err)
		}
	})
}

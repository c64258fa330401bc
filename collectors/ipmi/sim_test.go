package ipmi

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

func simCollector(t *testing.T, addr, user, password string, extra string) collectors.Collector {
	t.Helper()
	c, err := New(collectors.Spec{Name: "srv1", Kind: "ipmi"}, collectortest.DecodeYAML(fmt.Sprintf(
		"ipmi: {address: %q, username: %q, password: %q%s}", addr, user, password, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustValue(t *testing.T, samples []model.Sample, want float64, name string, labels ...string) {
	t.Helper()
	v, ok := collectortest.Value(samples, name, labels...)
	if !ok {
		t.Errorf("no %s%v in\n%s", name, labels, collectortest.Render(samples))
		return
	}
	if v != want {
		t.Errorf("%s%v = %v, want %v", name, labels, v, want)
	}
}

// TestIPMISim reads a real BMC implementation (OpenIPMI's ipmi_sim over
// RMCP+) with the real ipmitool, and changes its sensors at run time.
func TestIPMISim(t *testing.T) {
	sim := testpeer.StartIPMISim(t)
	for _, iface := range []string{"lanplus", "lan"} {
		t.Run(iface, func(t *testing.T) {
			c := simCollector(t, sim.Addr, sim.User, sim.Password, ", interface: "+iface)
			got, err := collectortest.Collect(c, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			collectortest.Golden(t, "testdata/sim-healthy.golden", collectortest.Render(got))
		})
	}

	t.Run("read-only user", func(t *testing.T) {
		for _, iface := range []string{"lanplus", "lan"} {
			c := simCollector(t, sim.Addr, testpeer.SimReadOnlyUser, testpeer.SimReadOnlyPassword, ", interface: "+iface)
			got, err := collectortest.Collect(c, 20*time.Second)
			if err != nil {
				t.Fatalf("%s: the User privilege is not enough: %v", iface, err)
			}
			mustValue(t, got, 1, "server_psu_redundancy_ok")
			mustValue(t, got, 1, "server_sel_readable")
		}
	})

	c := simCollector(t, sim.Addr, sim.User, sim.Password, "")
	round := func() []model.Sample {
		t.Helper()
		got, err := collectortest.Collect(c, 20*time.Second)
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
		return got
	}
	healthy := round()
	mustValue(t, healthy, 1, "server_psu_ok", "psu", "PSU1 Status")
	mustValue(t, healthy, 1, "server_psu_redundancy_ok")
	mustValue(t, healthy, 24, "server_temperature_celsius", "sensor", "Inlet Temp")
	mustValue(t, healthy, 0, "server_sel_entries")
	// PSU3 and the exhaust sensor have records but no reading: unknown,
	// neither ok nor failed, and PSU3 is not one of the healthy supplies.
	mustValue(t, healthy, 2, "server_psus_healthy")
	for _, s := range healthy {
		if l := s.Labels.Get("psu") + s.Labels.Get("sensor"); l == "PSU3 Status" || l == "Exhaust Temp" {
			t.Errorf("a sensor without a reading gives %s%s %v", s.Name, s.Labels, s.Value)
		}
	}

	t.Run("PSU failed", func(t *testing.T) {
		sim.SetPSU(t, testpeer.SimPSU1, true)
		got := round()
		mustValue(t, got, 0, "server_psu_ok", "psu", "PSU1 Status")
		mustValue(t, got, 1, "server_psu_ok", "psu", "PSU2 Status")
		mustValue(t, got, 1, "server_psus_healthy")
		// The BMC's redundancy sensor still says fully redundant: the
		// supplies are believed over it.
		mustValue(t, got, 1, "server_psu_redundancy_sensor_ok", "sensor", "PS Redundancy")
		mustValue(t, got, 0, "server_psu_redundancy_ok")
		sim.SetPSU(t, testpeer.SimPSU1, false)
		mustValue(t, round(), 1, "server_psu_redundancy_ok")
	})
	t.Run("AC lost", func(t *testing.T) {
		sim.SetPSUState(t, testpeer.SimPSU2, 3, true)
		mustValue(t, round(), 0, "server_psu_ok", "psu", "PSU2 Status")
		sim.SetPSUState(t, testpeer.SimPSU2, 3, false)
		mustValue(t, round(), 1, "server_psu_ok", "psu", "PSU2 Status")
	})
	t.Run("redundancy sensor lost", func(t *testing.T) {
		sim.SetRedundancy(t, 1)
		got := round()
		mustValue(t, got, 0, "server_psu_redundancy_sensor_ok", "sensor", "PS Redundancy")
		mustValue(t, got, 0, "server_psu_redundancy_ok")
		sim.SetRedundancy(t, 0)
		mustValue(t, round(), 1, "server_psu_redundancy_ok")
	})
	t.Run("heated", func(t *testing.T) {
		sim.SetTemperature(t, testpeer.SimInletTemp, 44)
		got := round()
		mustValue(t, got, 44, "server_temperature_celsius", "sensor", "Inlet Temp")
		mustValue(t, got, 2, "server_temperature_state", "sensor", "Inlet Temp") // above upper critical (42)
		sim.SetTemperature(t, testpeer.SimInletTemp, 24)
		mustValue(t, round(), 0, "server_temperature_state", "sensor", "Inlet Temp")
	})
	t.Run("fan stopped", func(t *testing.T) {
		sim.SetFanRPM(t, testpeer.SimFan2, 300)
		got := round()
		mustValue(t, got, 300, "server_fan_rpm", "fan", "Fan2")
		mustValue(t, got, 0, "server_fan_ok", "fan", "Fan2")
		mustValue(t, got, 1, "server_fan_ok", "fan", "Fan1")
		sim.SetFanRPM(t, testpeer.SimFan2, 4920)
		mustValue(t, round(), 1, "server_fan_ok", "fan", "Fan2")
	})
	t.Run("SEL entries", func(t *testing.T) {
		var logs testpeer.Buffer
		c, err := New(collectors.Spec{Name: "srv1", Kind: "ipmi", Logger: slog.New(slog.NewTextHandler(&logs, nil))},
			collectortest.DecodeYAML(fmt.Sprintf("ipmi: {address: %q, username: %q, password: %q, sel_newest: 2}", sim.Addr, sim.User, sim.Password)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := collectortest.Collect(c, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, psu := range []int{testpeer.SimPSU1, testpeer.SimPSU2, testpeer.SimPSU1} {
			sim.AddSELEntry(t, psu)
		}
		got, err := collectortest.Collect(c, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		mustValue(t, got, 3, "server_sel_entries")
		// the two newest of the three new entries are logged, not the first
		out := logs.String()
		for _, want := range []string{`entry="2 | Pre-Init |`, `| Power Supply #0x04 | Failure detected | Asserted"`, `entry="3 | Pre-Init |`} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, `entry="1 |`) {
			t.Errorf("more than sel_newest entries logged:\n%s", out)
		}
	})
}

// TestIPMIErrors: a BMC that does not let us in, or is not there, is a
// collection error whose text is short and says why.
func TestIPMIErrors(t *testing.T) {
	sim := testpeer.StartIPMISim(t)
	silent := testpeer.Addr(testpeer.FreeUDPPort(t)) // nobody answers there
	cases := []struct {
		name, addr, user, password, extra string
		timeout                           time.Duration
		want                              string
	}{
		{"wrong password", sim.Addr, sim.User, "not-the-password", "", 10 * time.Second, "ipmi " + sim.Addr + ": authentication failed (wrong password)"},
		{"unknown user", sim.Addr, "mallory", sim.Password, "", 10 * time.Second, "ipmi " + sim.Addr + ": authentication failed (unknown user)"},
		{"wrong password, IPMI 1.5", sim.Addr, sim.User, "not-the-password", ", interface: lan", 10 * time.Second, "authentication failed"},
		{"privilege above the user's, IPMI 1.5", sim.Addr, testpeer.SimReadOnlyUser, testpeer.SimReadOnlyPassword, ", interface: lan, privilege: administrator", 10 * time.Second, "ipmi " + sim.Addr + ": privilege level refused by the BMC"},
		{"cipher suite the BMC lacks", sim.Addr, sim.User, sim.Password, ", cipher_suite: 17", 10 * time.Second, "ipmi " + sim.Addr + ": cipher suite 17 refused by the BMC (try cipher_suite: 3)"},
		{"nobody answers", silent, "admin", "x", "", 20 * time.Second, "ipmi " + silent + ": no answer within"},
		{"deadline first", silent, "admin", "x", "", 1500 * time.Millisecond, "ipmi " + silent + ": no answer within 1."},
		{"no ipmitool", sim.Addr, sim.User, sim.Password, ", ipmitool: /nonexistent/ipmitool", 10 * time.Second, "not found (install the ipmitool package)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := simCollector(t, tc.addr, tc.user, tc.password, tc.extra)
			got, err := collectortest.Collect(c, tc.timeout)
			if !collectortest.ErrMatches(err, tc.want) || tc.want == "" {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if len(err.Error()) > 120 || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one short line: %q", err)
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error shows the password: %q", err)
			}
			if len(got) != 0 {
				t.Errorf("samples from a BMC that did not answer:\n%s", collectortest.Render(got))
			}
		})
	}
	t.Run("killed", func(t *testing.T) {
		c := simCollector(t, sim.Addr, sim.User, sim.Password, "")
		if _, err := collectortest.Collect(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		sim.Kill(t)
		_, err := collectortest.Collect(c, 20*time.Second)
		if !collectortest.ErrMatches(err, "ipmi "+sim.Addr+": no answer within") {
			t.Fatalf("after the BMC died: %v", err)
		}
	})
}

// TestIPMIExitStatusWithSensors: ipmitool exits 1 when one record could
// not be read, after printing the others (ipmi_sdr_print_sdr); the
// sensors it printed are the BMC's answer, not a failed round. A SEL
// command that fails that way is a SEL not readable.
func TestIPMIExitStatusWithSensors(t *testing.T) {
	sim := testpeer.StartIPMISim(t)
	real := testpeer.Need(t, "ipmitool")
	wrapper := filepath.Join(t.TempDir(), "ipmitool")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\n"+real+" \"$@\"\necho 'Unable to read sensor: Device Not Present' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := simCollector(t, sim.Addr, sim.User, sim.Password, ", ipmitool: "+wrapper)
	got, err := collectortest.Collect(c, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mustValue(t, got, 1, "server_psu_redundancy_ok")
	mustValue(t, got, 0, "server_sel_readable")
	if _, ok := collectortest.Value(got, "server_sel_entries"); ok {
		t.Error("server_sel_entries from a failed sel info")
	}
}

// TestIPMIPasswordAndOneAtATime runs ipmitool through a wrapper that
// records each run's command line and environment, and notes when two
// runs overlap: the password is in the environment only, never on the
// command line ps shows; four rounds started at once against one BMC
// run their ipmitool one after the other.
func TestIPMIPasswordAndOneAtATime(t *testing.T) {
	sim := testpeer.StartIPMISim(t)
	real := testpeer.Need(t, "ipmitool")
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ipmitool")
	script := `#!/bin/sh
D=` + dir + `
mkdir "$D/lock" 2>/dev/null || echo overlap >> "$D/overlaps"
echo "$@" >> "$D/argv"
env >> "$D/env"
sleep 0.05
` + real + ` "$@"; rc=$?
rmdir "$D/lock"
exit $rc
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := simCollector(t, sim.Addr, sim.User, sim.Password, ", ipmitool: "+wrapper)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = collectortest.Collect(c, 30*time.Second)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	if o := read("overlaps"); o != "" {
		t.Errorf("ipmitool runs overlapped %d times", strings.Count(o, "\n"))
	}
	argv := read("argv")
	if n := strings.Count(argv, "\n"); n < 8 {
		t.Errorf("%d ipmitool runs for 4 rounds, want at least 8 (sdr and sel each)", n)
	}
	if strings.Contains(argv, sim.Password) {
		t.Errorf("the password is on ipmitool's command line:\n%s", argv)
	}
	if !strings.Contains(argv, " -E ") {
		t.Errorf("ipmitool is not told to read the password from the environment:\n%s", argv)
	}
	if !strings.Contains(read("env"), "IPMI_PASSWORD="+sim.Password) {
		t.Error("IPMI_PASSWORD is not in ipmitool's environment")
	}
}

package nut

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// readDump reads a NUT .dev dump (what dummy-ups serves) into variables.
func readDump(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.Index(line, "\t#"); i >= 0 {
			line = line[:i] // dummy-ups drops inline comments (#BAD: ...)
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return vars
}

// TestShippedRules: the real dumps raise exactly the alarms their state
// calls for with configs/rules.d/nut.yaml.
func TestShippedRules(t *testing.T) {
	rules := rulestest.Shipped(t, "nut.yaml")
	// 3 minutes of 30-second rounds
	firingRules := func(samples []model.Sample) []string {
		return rulestest.Firing(rulestest.Replay(rules, "ups", "nut", samples, 7, 30*time.Second), "")
	}
	want := map[string][]string{
		"APC__Smart-UPS_1000__snmp-ups__2.7.4__02":                nil,
		"APC__Smart-UPS_2200__usbhid-ups__2.7.4__01":              {"UPSOnBattery"}, // OB DISCHRG, 30 min left
		"Cyber_Power_Systems__PR2200LCDRT2U__snmp-ups__2.7.2__01": nil,
		"Eaton__93PS__snmp-ups__2.7.3-167-g0a00ddb__01":           {"UPSAlarm"}, // ALARM OL, 2 alarms
		"Eaton__9PX__snmp-ups__2.7.4__01":                         nil,
		"Eaton__ATS_230V_16A__snmp-ups__2.7.4__01":                nil,
	}
	files, _ := filepath.Glob(filepath.Join(testpeer.SharedTestdata(t, "nut"), "*.dev"))
	if len(files) != len(want) {
		t.Errorf("%d dumps, the table knows %d", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dev")
		t.Run(name, func(t *testing.T) {
			got := firingRules(Map(readDump(t, f)))
			if fmt.Sprint(got) != fmt.Sprint(want[name]) {
				t.Errorf("firing %v, want %v", got, want[name])
			}
		})
	}
	t.Run("flipped to OB LB with 5 minutes left", func(t *testing.T) {
		vars := readDump(t, files[0])
		vars["ups.status"] = "OB LB"
		vars["battery.runtime"] = "300"
		got := firingRules(Map(vars))
		if fmt.Sprint(got) != "[UPSBatteryLow UPSOnBattery UPSRuntimeShort]" {
			t.Errorf("firing %v", got)
		}
	})
	t.Run("on battery with 7 minutes left: the message says 7 min", func(t *testing.T) {
		// The value of "ups_on_battery == 1 && runtime < 600" was the flag:
		// "on battery with 1s left" for 420 s (issue 15).
		vars := readDump(t, files[0])
		vars["ups.status"] = "OB DISCHRG"
		vars["battery.runtime"] = "420"
		e := rulestest.Replay(rules, "ups", "nut", Map(vars), 7, 30*time.Second)
		found := false
		for _, a := range e.Alarms() {
			if a.Rule == "UPSRuntimeShort" {
				found = true
				if a.Value != 420 || !strings.Contains(a.Summary, "has 7 min of battery runtime left") {
					t.Errorf("UPSRuntimeShort value %v, summary %q: want 420 and 7 min", a.Value, a.Summary)
				}
			}
		}
		if !found {
			t.Error("UPSRuntimeShort did not fire")
		}
	})
	t.Run("ATS loses source B", func(t *testing.T) {
		vars := readDump(t, filepath.Join(filepath.Dir(files[0]), "Eaton__ATS_230V_16A__snmp-ups__2.7.4__01.dev"))
		vars["input.2.voltage.status"] = "out of range"
		if got := firingRules(Map(vars)); fmt.Sprint(got) != "[ATSRedundancyLost]" {
			t.Errorf("firing %v", got)
		}
	})
}

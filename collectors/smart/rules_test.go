package smart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRules: with configs/rules.d/smart.yaml, every failing drive
// of shared/testdata/smart raises at least one alarm and no healthy drive
// raises any (the verdicts of shared/testdata/SOURCES.md).
func TestShippedRules(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "smart")
	rules := rulestest.Shipped(t, "smart.yaml")
	want := map[string][]string{
		"scrutiny__smart-fail2":                                                    {"DiskAttributeFailing", "DiskPendingSectors", "DiskReallocatedSectors", "DiskSmartFailed"},
		"smartctl_exporter__ST3500418AS_12":                                        {"DiskReallocatedSectors"},
		"smartctl_exporter__SEAGATE_ST373453LC_26":                                 {"DiskGrownDefects"},
		"smartctl_exporter__nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0":            {"DiskSmartFailed", "NVMeCriticalWarning"},
		"smartctl_exporter__WDC_WD20EFRX-68EUZN0_17":                               nil,
		"smartctl_exporter__INTEL_SSDPE2KX080T8_1":                                 nil,
		"smartctl_exporter__HITACHI_H109060SESUN600G_10":                           nil,
		"smartctl_exporter__sat-Samsung_based_SSDs-SAMSUNG_MZ7LH1T9HMLT-00005-sda": nil,
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(want) {
		t.Errorf("%d fixtures, the table knows %d: add the new ones", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			code := 0
			if _, after, ok := strings.Cut(string(b), `"exit_status":`); ok {
				fmt.Sscan(strings.TrimSpace(after), &code)
			}
			samples, err := Parse(b, code, "/dev/sdx")
			if err != nil {
				t.Fatal(err)
			}
			// three rounds a minute apart: window rules need several points
			got := rulestest.Summaries(rulestest.Replay(rules, "disks", "smart", samples, 3, time.Minute))
			var rulesFired []string
			for _, g := range got {
				r, _, _ := strings.Cut(g, ":")
				rulesFired = append(rulesFired, r)
				if !strings.Contains(g, "/dev/sdx") {
					t.Errorf("summary does not name the device: %s", g)
				}
			}
			if fmt.Sprint(rulesFired) != fmt.Sprint(want[name]) {
				t.Errorf("firing %v, want %v\n%s", rulesFired, want[name], strings.Join(got, "\n"))
			}
			t.Logf("%s", strings.Join(got, "\n"))
		})
	}
}

package smart

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/alerting"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// shippedRules compiles configs/rules.d/<file> the way `vedetta run` does.
func shippedRules(t *testing.T, file string) []*alerting.Rule {
	t.Helper()
	rules := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", file)
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("rule_files: [%q]\n", rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load %s: %v", rules, err)
	}
	compiled, errs := alerting.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatalf("compile %s: %v", rules, errs)
	}
	return compiled
}

// firing feeds the samples to an engine with the shipped rules, three times a
// minute apart (window rules need several points), and returns "Rule: summary"
// for every firing alarm.
func firing(t *testing.T, rules []*alerting.Rule, samples []collectors.Sample) []string {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := alerting.New(alerting.Options{Site: "test", Rules: rules, Now: func() time.Time { return now },
		Intervals: map[string]time.Duration{"disks": 10 * time.Minute}})
	for range 3 {
		b := collectors.Batch{Target: "disks", Start: now}
		for _, s := range samples {
			s.Labels = s.Labels.With("target", "disks").With("class", "smart")
			s.Time = now
			b.Samples = append(b.Samples, s)
		}
		e.Ingest(b)
		now = now.Add(time.Minute)
	}
	var out []string
	for _, a := range e.Alarms() {
		if a.State == alerting.StateFiring {
			out = append(out, a.Rule+": "+a.Summary)
		}
	}
	sort.Strings(out)
	return out
}

// TestShippedRules: with configs/rules.d/smart.yaml, every failing drive
// of shared/testdata/smart raises at least one alarm and no healthy drive
// raises any (the verdicts of shared/testdata/SOURCES.md).
func TestShippedRules(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "smart")
	rules := shippedRules(t, "smart.yaml")
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
			got := firing(t, rules, samples)
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

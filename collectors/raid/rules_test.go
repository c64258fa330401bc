package raid

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/alerting"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestShippedRules runs configs/rules.d/raid.yaml over each fixture for
// three minutes: "array:Rule" for every firing alarm.
func TestShippedRules(t *testing.T) {
	rulesFile := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "raid.yaml")
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("rule_files: [%q]\n", rulesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rules, errs := alerting.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]string{
		"healthy":    "[]",
		"empty":      "[]",
		"degraded":   "[md0:RaidDegraded md1:RaidDegraded]",
		"rebuilding": "[md0:RaidDegraded]",
		"failed":     "[md0:RaidDegraded md1:RaidFailed md2:RaidFailed]",
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			samples, err := collectFile(t, filepath.Join("testdata", name+".mdstat"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
			e := alerting.New(alerting.Options{Rules: rules, Now: func() time.Time { return now },
				Intervals: map[string]time.Duration{"md": 30 * time.Second}})
			for range 7 {
				b := collectors.Batch{Target: "md"}
				for _, s := range samples {
					s.Labels = s.Labels.With("target", "md").With("class", "raid")
					s.Time = now
					b.Samples = append(b.Samples, s)
				}
				e.Ingest(b)
				now = now.Add(30 * time.Second)
			}
			var got []string
			for _, a := range e.Alarms() {
				if a.State == alerting.StateFiring {
					got = append(got, a.Labels["array"]+":"+a.Rule)
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != w {
				t.Errorf("firing %v, want %v", got, w)
			}
		})
	}
}

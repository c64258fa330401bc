package raid

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// raidCases are configs/rules.d/raid.yaml's rules on /proc/mdstat
// fixtures read by the collector, changed the way the failure would.
var raidCases = []struct {
	fixture string
	rulestest.Case
}{
	{"healthy", rulestest.Case{Rule: "RaidDegraded", Fire: rulestest.Set("raid_degraded", 1, "array", "md1"),
		Want: "md array md1 (raid5) on md is degraded", WantResolved: "md array md1 (raid5) on md is no longer degraded"}},
	{"healthy", rulestest.Case{Rule: "RaidFailed", Fire: rulestest.Set("raid_failed", 1, "array", "md0"),
		Want: "md array md0 on md has failed", WantResolved: "md array md0 on md is no longer failed"}},
	// As recorded: a rebuild whose progress stays where the fixture has
	// it stalls after an hour; moving on resolves it.
	{"rebuilding", rulestest.Case{Rule: "RaidSyncStalled", Step: 5 * time.Minute,
		Resolve: rulestest.Ramp("raid_sync_progress_ratio", 0.01, "array", "md0"),
		Want:    "the recovery of md0 on md has not moved for an hour", WantResolved: "the recovery of md0 on md moves again ("}},
}

// TestShippedRuleSummaries: every row of raidCases.
func TestShippedRuleSummaries(t *testing.T) {
	rs := rulestest.Shipped(t, "raid.yaml")
	for _, c := range raidCases {
		c.Source, c.Class = c.fixture+".mdstat", "raid"
		samples, err := collectFile(t, filepath.Join("testdata", c.fixture+".mdstat"))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "md", samples, c.Case) })
	}
}

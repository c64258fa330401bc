package files

import (
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// filesCases are configs/rules.d/files.yaml's rules on a week of nightly
// backups the collector reads, changed the way a missed night would.
var filesCases = []rulestest.Case{
	{Rule: "BackupStale", Fire: rulestest.Set("files_newest_age_seconds", 30*3600+40*60),
		Want: "newest backup of backups is 1 d 7 h old", WantResolved: "newest backup of backups is 3 h old"},
	{Rule: "BackupsMissing", Fire: rulestest.Set("files_count", 5),
		Want: "backups keeps 5 backups (7 wanted)", WantResolved: "backups keeps 8 backups (7 wanted)"},
}

// TestShippedRuleSummaries: every row of filesCases.
func TestShippedRuleSummaries(t *testing.T) {
	dir := t.TempDir()
	backups(t, dir, 8, 3*time.Hour)
	c, err := New(collectors.Spec{Name: "backups", BaseDir: dir}, collectortest.DecodeYAML(`files: {glob: "*.tar.zst"}`))
	if err != nil {
		t.Fatal(err)
	}
	c.(*Collector).now = func() time.Time { return now }
	samples, err := collectortest.Collect(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	rs := rulestest.Shipped(t, "files.yaml")
	for _, tc := range filesCases {
		tc.Source, tc.Class = "8 nightly backups, the newest 3 h old", "files"
		t.Run(tc.Rule, func(t *testing.T) { rulestest.Run(t, rs, "backups", samples, tc) })
	}
}

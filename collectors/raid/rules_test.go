package raid

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRules runs configs/rules.d/raid.yaml over each fixture for
// three minutes: "array:Rule" for every firing alarm.
func TestShippedRules(t *testing.T) {
	rules := rulestest.Shipped(t, "raid.yaml")
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
			got := rulestest.Firing(rulestest.Replay(rules, "md", "raid", samples, 7, 30*time.Second), "array")
			if fmt.Sprint(got) != w {
				t.Errorf("firing %v, want %v", got, w)
			}
		})
	}
}

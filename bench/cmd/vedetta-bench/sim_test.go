package main

import "testing"

// scrapeRound joins a collection's metrics by target: exported_target
// (a device's own label kept aside) is not the target.
func TestTargetLabel(t *testing.T) {
	for line, want := range map[string]string{
		`vedetta_target_up{class="ups",target="ups-1"`:                     "ups-1",
		`vedetta_target_up{class="ups",exported_target="x",target="ups-2"`: "ups-2",
		`vedetta_target_up{target="a"`:                                     "a",
		`vedetta_target_up{class="ups"`:                                    "",
	} {
		if got := targetLabel(line); got != want {
			t.Errorf("targetLabel(%q) = %q, want %q", line, got, want)
		}
	}
}

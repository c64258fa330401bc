package snmp

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The catalogue of SNMP names is the profiles' own: every metric the
// recordings' polls show (testdata/golden, written from real devices'
// snmprec files by TestGolden) is in it.
func TestMetricNamesCoverGoldenPolls(t *testing.T) {
	known := EmbeddedProfiles().MetricNames()
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.prom"))
	if len(files) < 10 {
		t.Fatalf("only %d golden files", len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, _, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "{")
			if !seen[name] && !slices.Contains(known, name) {
				t.Errorf("%s: %s is not in the SNMP metric names", filepath.Base(f), name)
			}
			seen[name] = true
		}
		fh.Close()
	}
	if len(seen) < 50 {
		t.Fatalf("only %d names in the golden files: the test reads the wrong files", len(seen))
	}
}

// Every metric of every profile is in the names, and so are the fixed
// ones; names are unique and sorted.
func TestMetricNamesOfProfiles(t *testing.T) {
	set := EmbeddedProfiles()
	names := set.MetricNames()
	for _, p := range set.All() {
		for _, m := range p.Metrics {
			if !slices.Contains(names, m.Name) {
				t.Errorf("profile %s: %s missing", p.Name, m.Name)
			}
		}
	}
	for _, n := range []string{"snmp_profile_matched", "snmp_trap_received_total"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s missing", n)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("not sorted and unique: %v", names)
	}
}

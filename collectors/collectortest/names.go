package collectortest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// emitSite matches a metric name where the collector packages write one:
// model.Sample{Name: "x"...}, gauge(emit, "x"...), add("x"...),
// addp("x"...), value("x"...); a name built at run time ("mail_" + st)
// is not one: the golden files show those.
var emitSite = regexp.MustCompile(`(?:Name:\s*|gauge\(emit,\s*|\badd\(|\baddp\(|\bvalue\()"([a-zA-Z_][a-zA-Z0-9_]*)"\s*[,})]`)

// CheckMetricNames keeps a kind's MetricNames honest: every name the
// package's code writes at an emit site (its non-test .go files in the
// current directory) and every name in the golden files matching glob
// ("" for none: samples rendered by Render from real recordings) must be
// in names. atLeast guards the test itself: fewer names found means it
// reads the wrong files.
func CheckMetricNames(t *testing.T, names []string, glob string, atLeast int) {
	t.Helper()
	found := map[string]string{} // name -> where
	srcs, _ := filepath.Glob("*.go")
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range emitSite.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = f
		}
	}
	if glob != "" {
		goldens, _ := filepath.Glob(glob)
		if len(goldens) == 0 {
			t.Fatalf("no golden files %s", glob)
		}
		for _, f := range goldens {
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
				// A sample is name{labels} value or name value; other
				// lines (ipmi's "dropped NAME SENSOR") are notes.
				name, _, braces := strings.Cut(line, "{")
				if !braces {
					fields := strings.Fields(line)
					if len(fields) != 2 {
						continue
					}
					name = fields[0]
				}
				found[name] = f
			}
			fh.Close()
		}
	}
	if len(found) < atLeast {
		t.Fatalf("found %d metric names, want at least %d: %v", len(found), atLeast, found)
	}
	for n, where := range found {
		if !slices.Contains(names, n) {
			t.Errorf("%s emits %s, which MetricNames does not list", where, n)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
		t.Errorf("MetricNames lists a name twice: %v", names)
	}
}

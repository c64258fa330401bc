package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The sections of a run, selectable with --only: a partial run measures
// one thing in minutes instead of the full run's ~20.
const (
	secPoll    = "poll"
	secLatency = "latency"
	secRules   = "rules"
	secMemory  = "memory"
	secScale   = "scale"
)

var allSections = []string{secPoll, secLatency, secRules, secMemory, secScale}

// sections is the set a run measures; nil or empty means all of them.
type sections map[string]bool

// parseSections reads --only's comma list ("" is every section).
func parseSections(s string) (sections, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := sections{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allSections, f) {
			return nil, fmt.Errorf("--only: unknown section %q (sections: %s)", f, strings.Join(allSections, ","))
		}
		out[f] = true
	}
	return out, nil
}

// has says whether section sec is run.
func (s sections) has(sec string) bool { return len(s) == 0 || s[sec] }

// partial says whether some section is left out.
func (s sections) partial() bool {
	for _, sec := range allSections {
		if !s.has(sec) {
			return true
		}
	}
	return false
}

// String is the sections run, in report order.
func (s sections) String() string {
	var out []string
	for _, sec := range allSections {
		if s.has(sec) {
			out = append(out, sec)
		}
	}
	return strings.Join(out, ",")
}

// fullReportTitle is the first line of a full run's report; a partial
// run's title says it is partial, so a partial report may be written over
// again but a full one never is.
const fullReportTitle = "# vedetta benchmarks"

// checkPartialOut refuses a partial run whose --out is an existing full
// report (BENCHMARKS.md, or any file a full run wrote): it would lose
// every section the partial run leaves out.
func checkPartialOut(only sections, out string) error {
	if !only.partial() || out == "" {
		return nil
	}
	f, err := os.Open(out)
	if err != nil {
		return nil // nothing there to lose
	}
	defer f.Close()
	first := ""
	if sc := bufio.NewScanner(f); sc.Scan() {
		first = sc.Text()
	}
	if filepath.Base(out) == "BENCHMARKS.md" || first == fullReportTitle {
		return fmt.Errorf("--only %s would overwrite the full report %s: write a partial run elsewhere (--out /tmp/bench.md)", only, out)
	}
	return nil
}

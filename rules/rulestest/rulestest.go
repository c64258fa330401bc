// Package rulestest runs the rule files shipped in configs/rules.d against
// samples in tests: it loads them the way `vedetta run` does (a config with
// rule_files, through internal/config, so errors name file:line), replays
// samples through an rules.Engine on a fake clock, and lists what fires.
// It is for the collector packages' TestShippedRules; nothing else imports it.
package rulestest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// Start is where the fake clock of a Feed starts.
var Start = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// Shipped compiles configs/rules.d/<file> for each file, through a
// temporary config that lists them in rule_files.
func Shipped(t testing.TB, files ...string) []*rules.Rule {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, fmt.Sprintf("%q", filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", f)))
	}
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	if err := os.WriteFile(cfgPath, []byte("rule_files: ["+strings.Join(paths, ", ")+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	rs, errs := rules.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatalf("compile %v: %v", files, errs)
	}
	return rs
}

// Feed is an engine for one target on a fake clock that starts at Start.
type Feed struct {
	Engine *rules.Engine
	Clock  time.Time // the engine's now; Round moves it a step on

	target, class string
	step          time.Duration
}

// NewFeed makes an engine with rules for target, polled every step.
func NewFeed(rs []*rules.Rule, target, class string, step time.Duration) *Feed {
	f := &Feed{Clock: Start, target: target, class: class, step: step}
	f.Engine = rules.New(rules.Options{Rules: rs, Now: func() time.Time { return f.Clock },
		Intervals: map[string]time.Duration{target: step}})
	return f
}

// Round ingests samples as one batch of the target (labelled with target
// and class, stamped with the clock), then moves the clock a step on.
func (f *Feed) Round(samples []model.Sample) {
	b := model.Batch{Target: f.target}
	for _, s := range samples {
		s.Labels = s.Labels.With("target", f.target).With("class", f.class)
		s.Time = f.Clock
		b.Samples = append(b.Samples, s)
	}
	f.Engine.Ingest(b)
	f.Clock = f.Clock.Add(f.step)
}

// Replay feeds the same samples for rounds rounds, step apart, and returns
// the engine.
func Replay(rs []*rules.Rule, target, class string, samples []model.Sample, rounds int, step time.Duration) *rules.Engine {
	f := NewFeed(rs, target, class, step)
	for range rounds {
		f.Round(samples)
	}
	return f.Engine
}

// Firing lists the firing alarms, sorted: "Rule", or "<value of
// label>:Rule" when label is given.
func Firing(e *rules.Engine, label string) []string {
	var out []string
	for _, a := range e.Alarms() {
		if a.State != model.StateFiring {
			continue
		}
		if label == "" {
			out = append(out, a.Rule)
		} else {
			out = append(out, a.Labels[label]+":"+a.Rule)
		}
	}
	sort.Strings(out)
	return out
}

// Summaries lists the firing alarms as "Rule: summary", sorted.
func Summaries(e *rules.Engine) []string {
	var out []string
	for _, a := range e.Alarms() {
		if a.State == model.StateFiring {
			out = append(out, a.Rule+": "+a.Summary)
		}
	}
	sort.Strings(out)
	return out
}

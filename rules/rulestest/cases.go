package rulestest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
)

// Case is one shipped rule's row in a collector package's table of
// summaries (the tables live in collectors/<kind>/shipped_rules_test.go;
// TestEveryShippedRuleHasACase checks that every rule of configs/ has
// one). The real samples of Source are fed as collected, then changed by
// Fire until the rule fires, then fed as collected again (or frozen) until
// it resolves: the summary of each must name the number with its unit.
type Case struct {
	Rule   string // the shipped rule's name
	Source string // what fed the samples: a recording, a dump, an input file
	Class  string // the target's class
	// Fire changes the real samples so that the rule fires; nil: the
	// source fires it as collected (a standing problem of the recording).
	Fire Change
	// Rounds of Fire; default: enough to pass the rule's for:.
	Rounds int
	Step   time.Duration // between rounds; default 30s
	// Want is what the firing summary must contain: the number and its
	// unit ("7 min", "231 V"), or the name it is about.
	Want string
	// Resolve changes the real samples so that the rule resolves; nil:
	// the samples as collected.
	Resolve Change
	// HoldToResolve resolves by repeating the last changed samples
	// (counters that stop rising) instead of the samples as collected.
	HoldToResolve bool
	// WantResolved is what the summary must contain once resolved; ""
	// means the rule's summary reads the same in a RESOLVED message.
	WantResolved string
}

// Change turns a round of real samples into the samples to feed; r is the
// round number of the phase (0, 1, ...). It gets a copy it may modify.
type Change func(t testing.TB, r int, ss []model.Sample) []model.Sample

// match reports whether s is metric with the label pairs of match.
func match(s model.Sample, metric string, pairs []string) bool {
	if s.Name != metric {
		return false
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if s.Labels.Get(pairs[i]) != pairs[i+1] {
			return false
		}
	}
	return true
}

// Set sets every sample of metric with the label pairs (name, value...)
// to v; the source must have one.
func Set(metric string, v float64, pairs ...string) Change {
	return func(t testing.TB, _ int, ss []model.Sample) []model.Sample {
		t.Helper()
		n := 0
		for i := range ss {
			if match(ss[i], metric, pairs) {
				ss[i].Value = v
				n++
			}
		}
		if n == 0 {
			t.Fatalf("the source has no %s%v", metric, pairs)
		}
		return ss
	}
}

// SetFirst sets only the first sample of metric with the label pairs.
func SetFirst(metric string, v float64, pairs ...string) Change {
	return func(t testing.TB, _ int, ss []model.Sample) []model.Sample {
		t.Helper()
		for i := range ss {
			if match(ss[i], metric, pairs) {
				ss[i].Value = v
				return ss
			}
		}
		t.Fatalf("the source has no %s%v", metric, pairs)
		return nil
	}
}

// Ramp adds perRound×r to the first sample of metric with the label pairs
// (a counter rising, a temperature climbing).
func Ramp(metric string, perRound float64, pairs ...string) Change {
	return func(t testing.TB, r int, ss []model.Sample) []model.Sample {
		t.Helper()
		for i := range ss {
			if match(ss[i], metric, pairs) {
				ss[i].Value += perRound * float64(r)
				return ss
			}
		}
		t.Fatalf("the source has no %s%v", metric, pairs)
		return nil
	}
}

// All applies changes in order.
func All(cs ...Change) Change {
	return func(t testing.TB, r int, ss []model.Sample) []model.Sample {
		for _, c := range cs {
			ss = c(t, r, ss)
		}
		return ss
	}
}

// Value is the value of the first sample of metric with the label pairs,
// for rows that derive what they expect from the real data.
func Value(t testing.TB, ss []model.Sample, metric string, pairs ...string) float64 {
	t.Helper()
	for _, s := range ss {
		if match(s, metric, pairs) {
			return s.Value
		}
	}
	t.Fatalf("the source has no %s%v", metric, pairs)
	return 0
}

// Run plays c against rs for one target: the samples as collected must
// not fire the rule (unless c.Fire is nil), c.Fire must, with c.Want in
// the summary, and the samples as collected (or held) must resolve it,
// with c.WantResolved in the summary.
func Run(t *testing.T, rs []*rules.Rule, target string, base []model.Sample, c Case) {
	t.Helper()
	var rl *rules.Rule
	for _, r := range rs {
		if r.Name == c.Rule {
			rl = r
		}
	}
	if rl == nil {
		t.Fatalf("no shipped rule %s", c.Rule)
	}
	step := c.Step
	if step == 0 {
		step = 30 * time.Second
	}
	rounds := c.Rounds
	if rounds == 0 {
		rounds = int(rl.For/step) + 3
	}
	f := NewFeed(rs, target, c.Class, step)
	feed := func(ch Change, r int) []model.Sample {
		ss := slices.Clone(base)
		for i := range ss {
			ss[i].Labels = slices.Clone(ss[i].Labels)
		}
		if ch != nil {
			ss = ch(t, r, ss)
		}
		f.Round(ss)
		return ss
	}
	before := map[string]bool{} // alarms of the rule the source fires as collected
	if c.Fire != nil {
		for r := range rounds {
			feed(nil, r)
		}
		for _, a := range f.Engine.Alarms() {
			if a.Rule == c.Rule && a.State == model.StateFiring {
				before[a.ID] = true
				if strings.Contains(a.Summary, c.Want) {
					t.Fatalf("%s fires on %s as collected, before any change: %q", c.Rule, c.Source, a.Summary)
				}
			}
		}
	}
	var last []model.Sample
	for r := range rounds {
		last = feed(c.Fire, r)
	}
	var ids, fired []string // the alarms the change fired
	for _, a := range f.Engine.Alarms() {
		if a.Rule == c.Rule && a.State == model.StateFiring && !before[a.ID] {
			fired = append(fired, a.Summary)
			if strings.Contains(a.Summary, c.Want) {
				ids = append(ids, a.ID)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatalf("%s on %s: want a firing summary with %q, got %q", c.Rule, c.Source, c.Want, fired)
	}
	t.Logf("%s FIRING: %s", c.Rule, strings.Join(fired, " | "))
	resolveRounds := rounds + int(windowOf(rl)/step)
	for r := range resolveRounds {
		if c.HoldToResolve {
			f.Round(slices.Clone(last))
		} else {
			feed(c.Resolve, r)
		}
	}
	byID := map[string]model.Alarm{}
	for _, a := range f.Engine.Alarms() {
		byID[a.ID] = a
	}
	for _, id := range ids {
		a, ok := byID[id]
		switch {
		case !ok:
			t.Fatalf("%s on %s: the alarm is gone instead of resolved", c.Rule, c.Source)
		case a.State != model.StateResolved:
			t.Fatalf("%s on %s did not resolve: %s, %q", c.Rule, c.Source, a.State, a.Summary)
		}
		t.Logf("%s RESOLVED: %s", c.Rule, a.Summary)
		if c.WantResolved != "" && !strings.Contains(a.Summary, c.WantResolved) {
			t.Errorf("%s on %s: want a resolved summary with %q, got %q", c.Rule, c.Source, c.WantResolved, a.Summary)
		}
	}
}

// windowOf is a generous bound on how long a rule's windows remember a
// change: the resolve phase runs this much longer than the fire phase.
func windowOf(rl *rules.Rule) time.Duration { return time.Hour + rl.For }

// ShippedFile names a shipped rule file for messages and the completeness
// test: "rules.d/nut.yaml" or "redundancy.yaml".
type ShippedFile struct {
	Name  string
	Rules []config.Rule
}

// ShippedRuleFiles loads every shipped rule: each file of
// configs/rules.d/*.yaml and the rules: of configs/redundancy.yaml.
func ShippedRuleFiles(t testing.TB) []ShippedFile {
	t.Helper()
	root := testpeer.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "configs", "rules.d", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in configs/rules.d: %v", err)
	}
	var out []ShippedFile
	for _, f := range files {
		out = append(out, ShippedFile{Name: "rules.d/" + filepath.Base(f), Rules: shippedConfig(t, f)})
	}
	cfg, err := config.Load(filepath.Join(root, "configs", "redundancy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return append(out, ShippedFile{Name: "redundancy.yaml", Rules: cfg.Rules})
}

func shippedConfig(t testing.TB, file string) []config.Rule {
	t.Helper()
	rs := Shipped(t, filepath.Base(file))
	_ = rs // compiles: a file that does not is a failure of its own
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	writeConfig(t, cfgPath, []string{fmt.Sprintf("%q", file)})
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Rules
}

func writeConfig(t testing.TB, path string, quotedFiles []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("rule_files: ["+strings.Join(quotedFiles, ", ")+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

package rules

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// A join binds every combination of one series per metric whose label
// sets agree pairwise on the labels they share, in the order of the
// series (first metric first): what a brute force over random label sets
// finds, whether the joiner uses its index or compares one by one
// (candidates lacking a shared label), and however hashes collide.
func TestJoinBindsWhatBruteForceFinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	metrics := []string{"a", "b", "c"}
	for trial := range 300 {
		rs, errs := CompileRules(&config.Config{Rules: []config.Rule{{Name: "J", Expr: "a > 0 && b > 0 && c > 0", Severity: "warning"}}})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		now := time.Unix(1_800_000_000, 0)
		var fired []string
		e := New(Options{Rules: rs, Intervals: map[string]time.Duration{"t": time.Minute}, Now: func() time.Time { return now },
			Logger: discard(), OnChange: func(ch []model.Change) error {
				for _, c := range ch {
					if c.Event == model.EventFiring && c.Alarm.Rule == "J" {
						fired = append(fired, c.Alarm.ID)
					}
				}
				return nil
			}})
		var batch []model.Sample
		for _, m := range metrics {
			for range 1 + rng.IntN(6) {
				pairs := []string{"target", "t"}
				for _, n := range []string{"x", "y", "z"} {
					if rng.IntN(3) > 0 {
						pairs = append(pairs, n, []string{"1", "2"}[rng.IntN(2)])
					}
				}
				batch = append(batch, model.Sample{Name: m, Labels: model.L(pairs...), Value: 1, Time: now})
			}
		}
		e.Ingest(model.Batch{Target: "t", Samples: batch})

		ts := e.targets["t"]
		var want []string
		var walk func(row []*series)
		walk = func(row []*series) {
			if len(row) == len(metrics) {
				labels := map[string]string{}
				for _, s := range row {
					for _, l := range s.labels {
						labels[l.Name] = l.Value
					}
				}
				if id := model.AlarmID("J", labels); !slices.Contains(want, id) {
					want = append(want, id)
				}
				return
			}
			for _, s := range ts.byName[metrics[len(row)]] {
				ok := true
				for _, r := range row {
					ok = ok && compatible(r.labels, s.labels)
				}
				if ok {
					walk(append(row, s))
				}
			}
		}
		walk(nil)
		if !slices.Equal(fired, want) {
			t.Fatalf("trial %d, series %v: fired %v, brute force %v", trial, batch, fired, want)
		}
	}
}

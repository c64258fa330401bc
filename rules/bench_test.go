package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// BenchmarkRuleEvaluation is issue 6's rule benchmark: 100,000 live series
// (1,000 targets × 10 metrics × 10 label values) and 200 rules (20 per
// metric: thresholds, a join, labels, window functions), one evaluation
// cycle per op. Each rule reads the 10,000 series of its metric, so a
// cycle is 2,000,000 rule × series evaluations; the custom metric
// ns/rule-series divides by that.
func BenchmarkRuleEvaluation(b *testing.B) {
	const targets, metrics, values, perMetric = 1000, 10, 10, 20
	var rs []config.Rule
	for m := 0; m < metrics; m++ {
		for k := 0; k < perMetric; k++ {
			expr := fmt.Sprintf("m%d > %d", m, 1000+k) // never true: the steady state
			switch k {
			case 0:
				expr = fmt.Sprintf("m%d > 1000 && m%d < 2000", m, m)
			case 1:
				expr = fmt.Sprintf(`labels.ifname == "if3" && m%d > 5000`, m)
			case 2:
				expr = fmt.Sprintf("delta(m%d, 5m) > 900", m)
			case 3:
				expr = fmt.Sprintf("rate(m%d, 5m) > 900", m)
			}
			rs = append(rs, config.Rule{Name: fmt.Sprintf("R%d_%d", m, k), Expr: expr, Severity: "warning"})
		}
	}
	cfg := &config.Config{Rules: rs}
	rules, errs := CompileRules(cfg)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	now := time.Unix(1_800_000_000, 0)
	intervals := map[string]time.Duration{}
	e := New(Options{Rules: rules, Intervals: intervals, Now: func() time.Time { return now }, Logger: discard()})
	names := make([]string, targets)
	for t := 0; t < targets; t++ {
		names[t] = fmt.Sprintf("t%04d", t)
		intervals[names[t]] = time.Minute
	}
	// Five rounds of history so window functions have data.
	for round := 0; round < 5; round++ {
		ts := now.Add(time.Duration(round-4) * time.Minute)
		for t := 0; t < targets; t++ {
			var batch []model.Sample
			for m := 0; m < metrics; m++ {
				for v := 0; v < values; v++ {
					batch = append(batch, model.Sample{Name: fmt.Sprintf("m%d", m), Time: ts, Value: float64(round*10 + v),
						Labels: model.L("target", names[t], "class", "bench", "ifname", fmt.Sprintf("if%d", v))})
				}
			}
			e.mu.Lock()
			e.store(model.Batch{Target: names[t], Samples: batch})
			e.mu.Unlock()
		}
	}
	series := 0
	for _, ts := range e.targets {
		series += len(ts.byKey)
	}
	if series != targets*metrics*values {
		b.Fatalf("%d series", series)
	}
	cycle := func() {
		e.mu.Lock()
		var changes []model.Change
		for _, name := range names {
			e.evalTarget(name, e.targets[name], now, &changes)
		}
		e.mu.Unlock()
		if len(changes) != 0 {
			b.Fatalf("%d changes in the steady state", len(changes))
		}
	}
	cycle() // the first cycle caches boxed values and label maps
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cycle()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rules)*targets*values), "ns/rule-series")
}

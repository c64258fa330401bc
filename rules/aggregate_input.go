package rules

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// What the aggregation rules read: this engine's series, or the samples
// cluster members published (SetAggregateInput); and what members publish
// (AggregateMetrics, LatestOf).

// SetAggregateInput gives the engine the newest samples of every target,
// as cluster members published them, for the aggregation rules (Options.
// ExternalAggregates). nil stops their evaluation here (this member no
// longer holds the dispatcher's office).
func (e *Engine) SetAggregateInput(samples []model.Sample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if samples == nil {
		e.aggInput = nil
		return
	}
	in := map[string]*targetState{}
	for _, s := range samples {
		if math.IsNaN(s.Value) {
			continue
		}
		t := s.Labels.Get("target")
		ts := in[t]
		if ts == nil {
			ts = newTargetState()
			in[t] = ts
		}
		h := ts.sets.hash(s.Labels)
		sr := ts.lookupHashed(s.Name, s.Labels, h)
		if sr == nil {
			sr = ts.insert(s.Name, s.Labels, h)
		}
		sr.add(s.Time.UnixNano(), s.Value, 0)
	}
	e.aggInput = in
}

// AggregateMetrics lists the metrics the aggregation rules read.
func (e *Engine) AggregateMetrics() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.aggRules {
		for _, m := range r.aggMetrics() {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// LatestOf returns the newest point of every series of metrics this
// engine holds, whatever its age (the reader judges staleness by its time).
func (e *Engine) LatestOf(metrics []string) []model.Sample {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []model.Sample
	for _, ts := range e.targets {
		for _, m := range metrics {
			for _, s := range ts.byName[m] {
				if t, v, ok := s.last(); ok {
					out = append(out, model.Sample{Name: s.name, Labels: s.labels, Value: v, Time: time.Unix(0, t)})
				}
			}
		}
	}
	return out
}

// aggSource is what the aggregation rules read now; nil: they are not
// evaluated here.
func (e *Engine) aggSource() map[string]*targetState {
	if e.opts.ExternalAggregates {
		return e.aggInput
	}
	return e.targets
}

package rules

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
)

// The members of an aggregation: each label set an inner expression binds
// in a target, judged healthy, failing or unknown, and named for
// summaries.

// members binds an inner expression in one target (joining its metrics
// on shared labels, as evalRule does) and judges each binding.
func (e *Engine) members(me *memberExpr, target string, ts *targetState, now time.Time) []*member {
	p := me.health
	var binds []map[string]*series
	for _, s := range ts.byName[p.metrics[0]] {
		binds = append(binds, map[string]*series{p.metrics[0]: s})
	}
	for _, m := range p.metrics[1:] {
		j := joiner{cands: ts.byName[m]}
		var next []map[string]*series
		for _, b := range binds {
			for _, s := range j.matches(b) {
				nb := maps.Clone(b)
				nb[m] = s
				next = append(next, nb)
			}
		}
		binds = next
	}
	nowNs := now.UnixNano()
	stale := e.staleAfter(target)
	fresh := nowNs - int64(stale)
	start := e.startOf(AggregateTarget)
	var out []*member
	for _, b := range binds {
		labels := map[string]string{}
		for _, s := range b {
			for _, l := range s.labels {
				labels[l.Name] = l.Value
			}
		}
		if me.sel != nil {
			out, err := expr.Run(me.sel, map[string]any{"labels": labels})
			if ok, _ := out.(bool); err != nil || !ok {
				continue
			}
		}
		m := &member{target: target, labels: labels}
		oldest := int64(math.MaxInt64)
		env := map[string]any{"labels": labels}
		for name, s := range b {
			t, v, _ := s.last()
			m.newest = max(m.newest, t)
			oldest = min(oldest, t)
			env[name] = v
		}
		if oldest < fresh {
			m.state = memberUnknown
			m.reason = "no data for " + now.Sub(time.Unix(0, oldest)).Round(time.Second).String()
			m.warming = now.Sub(start) <= stale
			out = append(out, m)
			continue
		}
		res, err := p.run(env, &binding{series: b, now: nowNs})
		if err != nil {
			m.state, m.reason = memberUnknown, "cannot evaluate: "+err.Error()
			out = append(out, m)
			continue
		}
		switch v := res.(type) {
		case bool:
			m.value = b2f(v)
			if !v {
				m.state = memberFailing
				m.reason = me.why(env, b, nowNs)
			}
		case float64:
			m.value = v
			if math.IsNaN(v) || math.IsInf(v, 0) {
				m.state, m.reason = memberUnknown, "no usable value"
			}
		}
		out = append(out, m)
	}
	return out
}

// why says which conditions a failing member breaks, with the values it
// has: "ups_on_battery = 1".
func (me *memberExpr) why(env map[string]any, b map[string]*series, now int64) string {
	parts := me.parts
	if len(parts) == 0 {
		parts = []*program{me.health}
	}
	var out []string
	for _, p := range parts {
		res, err := p.run(env, &binding{series: b, now: now})
		if ok, _ := res.(bool); err == nil && ok {
			continue
		}
		for _, m := range p.metrics {
			if v, ok := env[m].(float64); ok {
				s := m + " = " + numberText(v)
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// memberLists names a group's members for summaries: by target, with the
// labels that tell apart several members of one target (psu=2).
func memberLists(ms []*member) map[string]MemberList {
	perTarget := map[string][]*member{}
	for _, m := range ms {
		perTarget[m.target] = append(perTarget[m.target], m)
	}
	out := map[string]MemberList{"failing": nil, "healthy": nil, "unknown": nil, "all": nil}
	sorted := slices.Clone(ms)
	names := map[*member]string{}
	for _, m := range ms {
		names[m] = m.target
		if same := perTarget[m.target]; len(same) > 1 {
			var ds []string
			for _, k := range sortedKeys(m.labels) {
				if k == "target" || k == "class" {
					continue
				}
				for _, o := range same {
					if o.labels[k] != m.labels[k] {
						ds = append(ds, k+"="+m.labels[k])
						break
					}
				}
			}
			if len(ds) > 0 {
				names[m] += " " + strings.Join(ds, " ")
			}
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return names[sorted[i]] < names[sorted[j]] })
	for _, m := range sorted {
		n := names[m]
		out["all"] = append(out["all"], n)
		switch m.state {
		case memberHealthy:
			out["healthy"] = append(out["healthy"], n)
		case memberFailing:
			if m.reason != "" {
				n += " (" + m.reason + ")"
			}
			out["failing"] = append(out["failing"], n)
		case memberUnknown:
			if m.reason != "" {
				n += " (" + m.reason + ")"
			}
			out["unknown"] = append(out["unknown"], n)
		}
	}
	return out
}

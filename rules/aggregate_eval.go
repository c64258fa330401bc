package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/vedetta-dc/vedetta/model"
)

// Evaluation of aggregation rules: every group of every rule, over the
// newest samples of every target (this engine's series, or what cluster
// members published: SetAggregateInput).

// memberState is what one member is in one evaluation.
type memberState int

const (
	memberHealthy memberState = iota
	memberFailing
	memberUnknown
)

// member is one label set an inner expression binds, in one evaluation.
type member struct {
	target string
	labels map[string]string
	state  memberState
	value  float64 // numbers: its value; conditions: 1 or 0
	reason string  // why it fails or is unknown
	newest int64
	// warming: unknown only because this engine started (or took the
	// aggregates over) less than its stale window ago.
	warming bool
}

// group is one group of one rule: its labels and, per inner expression,
// its members.
type group struct {
	labels  map[string]string
	members map[*memberExpr][]*member
}

// aggKey finds an aggregation rule from its alarm: redundancy groups make
// several rules of one name (RedundancyLost), told apart by their label.
func aggKey(rule string, labels map[string]string) string {
	return rule + "\x00" + labels[GroupLabel]
}

// GroupLabel is the label naming a redundancy group on its rules and
// alarms.
const GroupLabel = "redundancy"

// GroupTargetLabel holds the target of a group grouped by "target".
const GroupTargetLabel = "group_target"

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
			ts = &targetState{byName: map[string][]*series{}, byKey: map[string]*series{}}
			in[t] = ts
		}
		key := model.SeriesKey(s.Name, s.Labels)
		sr := ts.byKey[key]
		if sr == nil {
			sr = &series{name: s.Name, key: key, labels: s.Labels}
			ts.byKey[key] = sr
			ts.byName[s.Name] = append(ts.byName[s.Name], sr)
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

// evalAggregates evaluates every aggregation rule. Caller holds e.mu.
func (e *Engine) evalAggregates(now time.Time, changes *[]model.Change) {
	src := e.aggSource()
	if src == nil || len(e.aggRules) == 0 && len(e.byTarget[AggregateTarget]) == 0 {
		return
	}
	seen := map[string]bool{}
	// The two rules of a redundancy group read the same members: judged
	// once per evaluation.
	cache := map[string][]*member{}
	for _, rl := range e.aggRules {
		for _, g := range e.aggGroups(rl, src, now, cache) {
			e.judgeGroup(rl, g, now, seen, changes)
		}
	}
	grace := now.Sub(e.startOf(AggregateTarget)) <= e.staleAfter(AggregateTarget)
	for id, a := range e.byTarget[AggregateTarget] {
		if seen[id] {
			continue
		}
		if a.State == model.StateResolved {
			if now.Sub(a.ResolvedAt) > ResolvedKeep {
				e.unindex(a)
				*changes = append(*changes, model.Change{Alarm: snapshot(a), Deleted: true})
			}
			continue
		}
		rl := e.aggByKey[aggKey(a.Rule, a.Labels)]
		if rl == nil {
			// Its group left the configuration (another group of the same
			// rule name is still there): resolved and said so.
			if a.State == model.StateFiring || a.State == model.StateStale {
				a.State, a.ResolvedAt = model.StateResolved, now
				a.Summary += " (rule removed from the configuration)"
				a.Seq++
				*changes = append(*changes, model.Change{Alarm: snapshot(a), Event: model.EventResolved})
			} else {
				e.unindex(a)
				*changes = append(*changes, model.Change{Alarm: snapshot(a), Deleted: true})
			}
			continue
		}
		if grace {
			continue
		}
		e.transition(a, rl, false, false, false, now, changes)
	}
}

// judgeGroup computes one group's aggregations and moves its alarm.
func (e *Engine) judgeGroup(rl *Rule, g *group, now time.Time, seen map[string]bool, changes *[]model.Change) {
	ag := rl.agg
	labels := maps.Clone(g.labels)
	if t, ok := labels["target"]; ok {
		// Grouped by target (the PSUs of each server): the alarm's target
		// is the synthetic one, the group's is kept beside it.
		delete(labels, "target")
		labels[GroupTargetLabel] = t
	}
	maps.Copy(labels, rl.Labels)
	labels["target"] = AggregateTarget
	id := model.AlarmID(rl.Name, labels)
	for _, ms := range g.members {
		for _, m := range ms {
			if m.warming {
				// Not every member has had its first poll since this
				// engine started: no verdict on a guess.
				if e.alarms[id] != nil {
					seen[id] = true
				}
				return
			}
		}
	}
	env := make(map[string]any, len(ag.calls))
	for _, c := range ag.calls {
		env[c.ident] = aggValue(c.fn, g.members[c.inner])
	}
	cond, err := runBool(ag.cond, env)
	if err != nil {
		e.evalFailed(rl, AggregateTarget, err)
		return
	}
	a := e.alarms[id]
	if !cond && a == nil {
		return
	}
	seen[id] = true
	if a == nil {
		a = e.alarmFor(rl, id, labels)
	}
	clear := false
	if ag.clear != nil && (a.State == model.StateFiring || a.State == model.StateStale) {
		clear, _ = runBool(ag.clear, env) // an error: not cleared
	}
	a.Value = 1
	vp := ag.value
	if vp != nil {
		if out, err := expr.Run(vp, env); err == nil {
			if v, ok := out.(float64); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				a.Value = v
			}
		}
	}
	a.members = memberLists(g.members[ag.calls[0].inner])
	var newest int64
	for _, ms := range g.members {
		for _, m := range ms {
			newest = max(newest, m.newest)
		}
	}
	if newest > a.LastSample {
		a.LastSample = newest
		a.record(cond)
	}
	e.transition(a, rl, true, cond, clear, now, changes)
}

func runBool(p *vm.Program, env map[string]any) (bool, error) {
	out, err := expr.Run(p, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %v, not true or false", out)
	}
	return b, nil
}

// aggValue computes one aggregation over a group's members. Unknown
// members are never healthy and never part of a number; a number over no
// known member is NaN, which compares false: no alarm on a guess.
func aggValue(fn string, ms []*member) float64 {
	n, known := 0.0, 0.0
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, m := range ms {
		switch fn {
		case "count_by":
			if m.state == memberHealthy {
				n++
			}
			continue
		case "unknown_by":
			if m.state == memberUnknown {
				n++
			}
			continue
		case "members_by":
			n++
			continue
		}
		if m.state == memberUnknown {
			continue
		}
		known++
		sum += m.value
		lo, hi = math.Min(lo, m.value), math.Max(hi, m.value)
	}
	switch fn {
	case "count_by", "unknown_by", "members_by":
		return n
	}
	if known == 0 {
		return math.NaN()
	}
	switch fn {
	case "sum_by":
		return sum
	case "min_by":
		return lo
	case "max_by":
		return hi
	}
	return sum / known
}

// aggGroups finds every member of every inner expression of rl over src
// and puts each in its group.
func (e *Engine) aggGroups(rl *Rule, src map[string]*targetState, now time.Time, cache map[string][]*member) []*group {
	ag := rl.agg
	groups := map[string]*group{}
	groupOf := func(ls map[string]string) *group {
		var key strings.Builder
		for _, b := range ag.by {
			key.WriteString(ls[b])
			key.WriteByte(0xff)
		}
		g := groups[key.String()]
		if g == nil {
			g = &group{labels: map[string]string{}, members: map[*memberExpr][]*member{}}
			for _, b := range ag.by {
				g.labels[b] = ls[b]
			}
			groups[key.String()] = g
		}
		return g
	}
	targets := slices.Sorted(maps.Keys(src))
	start := e.startOf(AggregateTarget)
	for _, me := range ag.exprs {
		key := me.src + "\x00" + strconv.FormatBool(me.cond)
		all, ok := cache[key]
		if !ok {
			for _, t := range targets {
				all = append(all, e.members(me, t, src[t], now)...)
			}
			cache[key] = all
		}
		// A rule that expects no member by name learns its members from
		// the samples: right after a start (or a takeover) a target not
		// polled yet is missing, neither healthy nor failing, and cannot
		// be told from one that is gone until its stale window has
		// passed. No verdict before that, for any member known so far.
		warm := false
		if len(rl.expected) == 0 {
			var win time.Duration
			for _, m := range all {
				win = max(win, e.staleAfter(m.target))
			}
			warm = now.Sub(start) <= win
		}
		have := map[string]bool{}
		for _, m := range all {
			if warm {
				c := *m
				c.warming = true
				m = &c
			}
			g := groupOf(m.labels)
			g.members[me] = append(g.members[me], m)
			have[m.target] = true
		}
		// An expected target that sent nothing this expression reads is
		// an unknown member (a UPS that never answered since the start).
		for _, x := range rl.expected {
			if have[x.Target] {
				continue
			}
			m := &member{target: x.Target, labels: x.Labels, state: memberUnknown, reason: "no data"}
			m.warming = now.Sub(start) <= e.staleAfter(x.Target)
			g := groupOf(x.Labels)
			g.members[me] = append(g.members[me], m)
		}
	}
	out := make([]*group, 0, len(groups))
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		out = append(out, groups[k])
	}
	return out
}

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

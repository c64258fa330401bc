package rules

import (
	"maps"
	"math"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// Evaluation: every rule over every label set of one target.

func (e *Engine) evalTarget(target string, ts *targetState, now time.Time, changes *[]model.Change) {
	seen := map[string]bool{}
	for _, r := range e.rules {
		e.evalRule(r, target, ts, now, seen, changes)
	}
	grace := e.staleAfter(target)
	for id, a := range e.byTarget[target] {
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
		// No fresh data for this label set. Right after a (re)start the
		// first polls have not come back yet: that is not an outage.
		if now.Sub(e.startOf(target)) <= grace {
			continue
		}
		e.transition(a, e.ruleByN[a.Rule], false, false, false, now, changes)
	}
}

// evalSingle is evalRule for a rule reading one metric: no joins, and in
// the steady state (condition false, no alarm) no allocation, no hashing.
func (e *Engine) evalSingle(rl *Rule, target string, ts *targetState, now time.Time, seen map[string]bool, changes *[]model.Change) {
	p := rl.cond
	m := p.metrics[0]
	nowNs := now.UnixNano()
	fresh := nowNs - int64(e.staleAfter(target))
	instant := p.instant[m] || rl.clear != nil && rl.clear.instant[m]
	env := rl.env
	bind := &rl.bind1
	bind.now = nowNs
	for _, s := range ts.byName[m] {
		if instant && s.lastTime() < fresh {
			continue
		}
		env[m] = s.value()
		if p.labels || rl.clear != nil && rl.clear.labels {
			env["labels"] = s.labelMap() // for computed keys: labels[x]
		}
		bind.series[m] = s
		bind.labels = s
		cond, ok := e.holds(rl, p, env, bind, target)
		if !ok {
			continue
		}
		a := s.alarms[rl]
		if !cond && a == nil {
			continue
		}
		if a == nil {
			labels := maps.Clone(s.labelMap())
			maps.Copy(labels, rl.Labels)
			a = e.alarmFor(rl, model.AlarmID(rl.Name, labels), labels)
			link(s, rl, a)
		}
		seen[a.ID] = true
		e.judge(rl, a, env, bind, s.lastTime(), cond, now, changes)
	}
}

// judge computes an active alarm's clear condition and value, records
// the result for flap detection, and moves its state.
func (e *Engine) judge(rl *Rule, a *alarm, env map[string]any, bind *binding, newest int64, cond bool, now time.Time, changes *[]model.Change) {
	clear := false
	if rl.clear != nil && (a.State == model.StateFiring || a.State == model.StateStale) {
		if out, err := rl.clear.run(env, bind); err == nil {
			clear, _ = out.(bool)
		}
	}
	a.Value = 1
	if rl.value != nil {
		if out, err := rl.value.run(env, bind); err == nil {
			if v, ok := out.(float64); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				a.Value = v
			}
		}
	}
	if newest > a.LastSample {
		a.LastSample = newest
		a.record(cond)
	}
	e.transition(a, rl, true, cond, clear, now, changes)
}

// evalRule evaluates one rule over every label set of one target.
func (e *Engine) evalRule(rl *Rule, target string, ts *targetState, now time.Time, seen map[string]bool, changes *[]model.Change) {
	if rl.single {
		e.evalSingle(rl, target, ts, now, seen, changes)
		return
	}
	p := rl.cond
	nowNs := now.UnixNano()
	fresh := nowNs - int64(e.staleAfter(target))
	usable := func(m string, s *series) bool {
		if !p.instant[m] && (rl.clear == nil || !rl.clear.instant[m]) {
			return true
		}
		return s.lastTime() >= fresh
	}
	// Bind the first metric's series, then join each other metric on the
	// labels they share (same target, same mountpoint...).
	var binds []map[string]*series
	for _, s := range ts.byName[p.metrics[0]] {
		if usable(p.metrics[0], s) {
			binds = append(binds, map[string]*series{p.metrics[0]: s})
		}
	}
	metrics := p.metrics[1:]
	if rl.clear != nil {
		for _, m := range rl.clear.metrics {
			if !contains(p.metrics, m) {
				metrics = append(metrics, m)
			}
		}
	}
	for _, m := range metrics {
		var cands []*series
		for _, s := range ts.byName[m] {
			if usable(m, s) {
				cands = append(cands, s)
			}
		}
		var next []map[string]*series
		j := joiner{cands: cands}
		for _, b := range binds {
			for _, s := range j.matches(b) {
				nb := make(map[string]*series, len(b)+1)
				for k, v := range b {
					nb[k] = v
				}
				nb[m] = s
				next = append(next, nb)
			}
		}
		binds = next
	}
	// Metrics only the value: expression reads are looked up for each
	// binding on the labels they share, but optionally: a missing one
	// leaves the value at 1 instead of silencing the rule, and they take
	// no part in the alarm's labels.
	var extra []string
	extraJoin := map[string]*joiner{}
	if rl.value != nil {
		for _, m := range rl.value.metrics {
			if contains(p.metrics, m) || rl.clear != nil && contains(rl.clear.metrics, m) || extraJoin[m] != nil {
				continue
			}
			var cands []*series
			for _, s := range ts.byName[m] {
				if s.lastTime() >= fresh {
					cands = append(cands, s)
				}
			}
			extra = append(extra, m)
			extraJoin[m] = &joiner{cands: cands}
		}
	}
	for _, b := range binds {
		labels := map[string]string{}
		for _, s := range b {
			for _, l := range s.labels {
				labels[l.Name] = l.Value
			}
		}
		for k, v := range rl.Labels {
			labels[k] = v
		}
		env := map[string]any{"labels": labels}
		for m, s := range b {
			if _, v, ok := s.last(); ok {
				env[m] = v
			}
		}
		bind := &binding{series: b, now: nowNs}
		if len(b) == 1 {
			for _, s := range b {
				bind.labels = s
			}
		}
		if len(extra) > 0 {
			vb := maps.Clone(b)
			for _, m := range extra {
				if ms := extraJoin[m].matches(b); len(ms) > 0 {
					vb[m] = ms[0]
					if _, v, ok := ms[0].last(); ok {
						env[m] = v
					}
				}
			}
			bind = &binding{series: vb, now: nowNs, labels: bind.labels}
		}
		cond, ok := e.holds(rl, p, env, bind, target)
		if !ok {
			continue
		}
		id := model.AlarmID(rl.Name, labels)
		a := e.alarms[id]
		if !cond && a == nil {
			continue // nothing to do
		}
		seen[id] = true
		if a == nil {
			a = e.alarmFor(rl, id, labels)
		}
		var newest int64
		for _, s := range b {
			newest = max(newest, s.lastTime())
		}
		e.judge(rl, a, env, bind, newest, cond, now, changes)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// holds runs a rule's condition for one binding; ok is false when it
// failed to evaluate (counted and logged by evalFailed).
func (e *Engine) holds(rl *Rule, p *program, env map[string]any, bind *binding, target string) (cond, ok bool) {
	out, err := p.run(env, bind)
	if err != nil {
		e.evalFailed(rl, target, err)
		return false, false
	}
	cond, _ = out.(bool)
	return cond, true
}

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
			// The alarm shares the interned set's map (the rules never
			// write an alarm's labels; what leaves the engine is a
			// snapshot's copy), unless the rule adds labels of its own.
			labels := s.labelMap()
			if len(rl.Labels) > 0 {
				labels = maps.Clone(labels)
				maps.Copy(labels, rl.Labels)
			}
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

// joinScratch is what evaluating a multi-metric rule reuses from one
// evaluation to the next (the rule is evaluated under e.mu, one target
// after the other), so that the steady state allocates nothing.
type joinScratch struct {
	// metrics: the condition's, then the clear expression's it lacks;
	// extra: those only the value expression reads.
	metrics, extra []string
	// cur, next: the bindings, len(metrics) series each, one after the
	// other (a binding's series in the order of metrics).
	cur, next []*series
	joiners   []joiner // per metric after the first, then per extra metric
	row, vrow map[string]*series
	labels    map[string]string
	env       map[string]any
	bind      binding
	// ruleBoxes: the rule's own labels as interfaces, for labels.x.
	ruleBoxes map[string]any
}

func newJoinScratch(rl *Rule) *joinScratch {
	js := &joinScratch{row: map[string]*series{}, vrow: map[string]*series{}, labels: map[string]string{},
		env: map[string]any{}, ruleBoxes: map[string]any{}}
	js.metrics = append(js.metrics, rl.cond.metrics...)
	if rl.clear != nil {
		for _, m := range rl.clear.metrics {
			if !contains(js.metrics, m) {
				js.metrics = append(js.metrics, m)
			}
		}
	}
	if rl.value != nil {
		for _, m := range rl.value.metrics {
			if !contains(js.metrics, m) && !contains(js.extra, m) {
				js.extra = append(js.extra, m)
			}
		}
	}
	js.joiners = make([]joiner, len(js.metrics)-1+len(js.extra))
	for k, v := range rl.Labels {
		js.ruleBoxes[k] = v
	}
	return js
}

// labelBoxed is labels.name for a join's binding row, as env["labels"]
// has it: the rule's own label, else the value of the first series of the
// row that has it (they agree), as an interface made once.
func (js *joinScratch) labelBoxed(name string, row []*series) any {
	if b, ok := js.ruleBoxes[name]; ok {
		return b
	}
	for _, s := range row {
		if _, ok := s.labels.Lookup(name); ok {
			return s.labelBoxed(name)
		}
	}
	return emptyLabel
}

// evalRule evaluates one rule over every label set of one target.
func (e *Engine) evalRule(rl *Rule, target string, ts *targetState, now time.Time, seen map[string]bool, changes *[]model.Change) {
	if rl.single {
		e.evalSingle(rl, target, ts, now, seen, changes)
		return
	}
	p := rl.cond
	js := rl.join
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
	k := len(js.metrics)
	cur := js.cur[:0]
	for _, s := range ts.byName[js.metrics[0]] {
		if usable(js.metrics[0], s) {
			cur = append(cur, s)
			for range k - 1 {
				cur = append(cur, nil)
			}
		}
	}
	for mi, m := range js.metrics[1:] {
		j := &js.joiners[mi]
		j.reset()
		for _, s := range ts.byName[m] {
			if usable(m, s) {
				j.cands = append(j.cands, s)
			}
		}
		next := js.next[:0]
		for b := 0; b < len(cur); b += k {
			row := cur[b : b+mi+1]
			for _, s := range j.matchRow(row) {
				next = append(next, cur[b:b+k]...)
				next[len(next)-k+mi+1] = s
			}
		}
		cur, js.next = next, cur
	}
	js.cur = cur
	// Metrics only the value: expression reads are looked up for each
	// binding on the labels they share, but optionally: a missing one
	// leaves the value at 1 instead of silencing the rule, and they take
	// no part in the alarm's labels.
	extra := js.joiners[k-1:]
	for xi, m := range js.extra {
		j := &extra[xi]
		j.reset()
		for _, s := range ts.byName[m] {
			if s.lastTime() >= fresh {
				j.cands = append(j.cands, s)
			}
		}
	}
	env, bind := js.env, &js.bind
	for b := 0; b < len(cur); b += k {
		row := cur[b : b+k]
		clear(js.labels)
		for _, s := range row {
			for _, l := range s.labels {
				js.labels[l.Name] = l.Value
			}
		}
		for name, v := range rl.Labels {
			js.labels[name] = v
		}
		env["labels"] = js.labels
		for i, s := range row {
			m := js.metrics[i]
			js.row[m] = s
			if s.has {
				env[m] = s.value()
			} else {
				delete(env, m)
			}
		}
		*bind = binding{series: js.row, now: nowNs, row: row, join: js}
		if k == 1 {
			bind.labels, bind.row, bind.join = row[0], nil, nil
		}
		if len(js.extra) > 0 {
			clear(js.vrow)
			for m, s := range js.row {
				js.vrow[m] = s
			}
			for xi, m := range js.extra {
				if ms := extra[xi].matchRow(row); len(ms) > 0 && ms[0].has {
					js.vrow[m] = ms[0]
					env[m] = ms[0].value()
				} else {
					if len(ms) > 0 {
						js.vrow[m] = ms[0]
					}
					delete(env, m)
				}
			}
			bind.series = js.vrow
		}
		cond, ok := e.holds(rl, p, env, bind, target)
		if !ok {
			continue
		}
		if !cond && e.ruleAlarms[rl.Name] == 0 {
			continue // no alarm of this rule anywhere: nothing to do, no id to compute
		}
		id := model.AlarmID(rl.Name, js.labels)
		a := e.alarms[id]
		if !cond && a == nil {
			continue // nothing to do
		}
		seen[id] = true
		if a == nil {
			a = e.alarmFor(rl, id, maps.Clone(js.labels))
		}
		var newest int64
		for _, s := range row {
			newest = max(newest, s.lastTime())
		}
		e.judge(rl, a, env, bind, newest, cond, now, changes)
	}
	js.forget()
}

// forget drops the buffers' pointers to series (keeping their room), so
// that a series the TTL or a Release dropped is not kept alive by a rule.
func (js *joinScratch) forget() {
	clear(js.cur[:cap(js.cur)])
	clear(js.next[:cap(js.next)])
	for i := range js.joiners {
		j := &js.joiners[i]
		clear(j.cands[:cap(j.cands)])
		clear(j.out[:cap(j.out)])
	}
	clear(js.row)
	clear(js.vrow)
	js.bind = binding{}
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

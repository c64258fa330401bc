package rules

import (
	"github.com/vedetta-dc/vedetta/model"
)

// The alarm index: every alarm by id and by target, and the link from a
// single-metric alarm to its series (the fast path finds it there).

// linkLater remembers which series a restored single-metric alarm belongs
// to, so the fast path finds it when that series' data comes back.
func (e *Engine) linkLater(a *alarm) {
	rl := e.ruleByN[a.Rule]
	if rl == nil || !rl.single {
		return
	}
	ls := map[string]string{}
	for k, v := range a.Labels {
		if _, byRule := rl.Labels[k]; !byRule {
			ls[k] = v
		}
	}
	sls := model.FromMap(ls)
	if ts := e.targets[a.Labels["target"]]; ts != nil {
		if s := ts.lookup(rl.cond.metrics[0], sls); s != nil {
			link(s, rl, a)
			return
		}
	}
	key := model.SeriesKey(rl.cond.metrics[0], sls)
	e.pending[key] = append(e.pending[key], a)
}

func link(s *series, rl *Rule, a *alarm) {
	if s.alarms == nil {
		s.alarms = map[*Rule]*alarm{}
	}
	s.alarms[rl] = a
	a.src, a.rule = s, rl
}

// alarmFor is rule rl's alarm for labels: the indexed one, or a new one,
// indexed. Both evaluation paths end here.
func (e *Engine) alarmFor(rl *Rule, id string, labels map[string]string) *alarm {
	if a := e.alarms[id]; a != nil {
		return a
	}
	a := &alarm{Alarm: model.Alarm{ID: id, Rule: rl.Name, Labels: labels, Severity: rl.Severity, Site: e.opts.Site}}
	e.index(a)
	return a
}

func (e *Engine) index(a *alarm) {
	if old := e.alarms[a.ID]; old != nil {
		e.countRule(old.Rule, -1)
	}
	e.countRule(a.Rule, 1)
	e.alarms[a.ID] = a
	t := a.Labels["target"]
	if e.byTarget[t] == nil {
		e.byTarget[t] = map[string]*alarm{}
	}
	e.byTarget[t][a.ID] = a
}

func (e *Engine) unindex(a *alarm) {
	if old := e.alarms[a.ID]; old != nil {
		e.countRule(old.Rule, -1)
	}
	delete(e.alarms, a.ID)
	delete(e.byTarget[a.Labels["target"]], a.ID)
	if a.src != nil {
		// The map is the label set's (shared by its series): an entry of
		// this rule there may be another alarm's by now.
		if a.src.alarms[a.rule] == a {
			delete(a.src.alarms, a.rule)
		}
		a.src, a.rule = nil, nil
	}
}

// countRule keeps ruleAlarms equal to the number of alarms of each rule
// in e.alarms.
func (e *Engine) countRule(rule string, d int) {
	if n := e.ruleAlarms[rule] + d; n > 0 {
		e.ruleAlarms[rule] = n
	} else {
		delete(e.ruleAlarms, rule)
	}
}

func snapshot(a *alarm) model.Alarm { return a.Alarm.Clone() }

package rules

import (
	"sort"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

func (e *Engine) transition(a *alarm, rl *Rule, present, cond, clear bool, now time.Time, changes *[]model.Change) {
	before := a.State
	forDur, hasClear := time.Duration(0), false
	if rl != nil {
		forDur, hasClear = rl.For, rl.clear != nil
		a.Severity = rl.Severity
	}
	ev := a.flap(step(&a.Alarm, present, cond, clear, hasClear, forDur, now))
	switch ev {
	case model.EventFiring, model.EventResolved:
		a.Told = a.State
	case model.EventFlapEnd:
		a.Told = a.State
	}
	if a.State == "" && a.Flapping {
		// Keep a flapping alarm (as resolved) so its history survives the
		// moments its condition is false.
		a.State = model.StateResolved
		a.ResolvedAt = now
	}
	if rl != nil && (ev != "" || a.Summary == "" || a.State == model.StateFiring) {
		d := templateData{Labels: a.Labels, Value: a.Value, Rule: a.Rule, Severity: a.Severity, Site: a.Site, Members: a.members,
			Resolved: a.State == model.StateResolved}
		if !a.FiringAt.IsZero() {
			end := now
			if d.Resolved && !a.ResolvedAt.IsZero() {
				end = a.ResolvedAt
			}
			d.Duration = end.Sub(a.FiringAt).Seconds()
		}
		if ts := e.targets[a.Labels["target"]]; ts != nil {
			d.Cause = ts.cause
		}
		e.cur = rendering{target: a.Labels["target"], labels: a.Labels, now: now, on: true}
		a.Summary = render(e.boundTemplate(rl.summary), d, a.Rule+" "+labelsText(a.Labels))
		a.Description = render(e.boundTemplate(rl.descr), d, "")
		a.Runbook = render(e.boundTemplate(rl.runbook), d, "")
		e.cur = rendering{}
	}
	if ev != "" {
		a.Seq++
		e.opts.Logger.Debug("alarm event", "id", a.ID, "rule", a.Rule, "event", ev)
	}
	switch {
	case a.State == "":
		e.unindex(a)
		*changes = append(*changes, model.Change{Alarm: snapshot(a), Deleted: true})
	case ev != "" || before != a.State:
		*changes = append(*changes, model.Change{Alarm: snapshot(a), Event: ev})
	}
}

func labelsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		if s != "" {
			s += " "
		}
		s += k + "=" + m[k]
	}
	return s
}

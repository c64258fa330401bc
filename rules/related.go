package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Related readings in messages: {{ metric "ups_battery_runtime_seconds" }}
// is the newest value of that metric on the alarm's target whose labels
// agree with the alarm's (a port's speed next to its "down", a UPS's charge
// and load next to "on battery"), so a page carries what a person checks
// next. A value that cannot be told for sure is an error, never a guess:
// no such series, two that fit equally (phases 1-3 for a UPS alarm without
// a phase), or one gone stale. hasMetric says whether metric would answer,
// for {{ if hasMetric "x" }}, so a template words itself around a device
// that does not report the reading.

// The parse-time stand-ins: parseTemplate's dry run on empty data needs
// them to exist and succeed; the engine binds the real ones per template
// (boundTemplate) before any message is built.
func init() {
	templateFuncs["metric"] = func(string) (float64, error) { return 0, nil }
	templateFuncs["hasMetric"] = func(string) bool { return false }
}

// rendering is the alarm whose messages are being built; the functions
// bound to this engine's templates read it. Guarded by e.mu.
type rendering struct {
	target string
	labels map[string]string
	now    time.Time
	on     bool
}

// boundTemplate returns t with metric and hasMetric bound to this engine,
// cloned once per template (Clone copies the function table: the rule's own
// template, which other engines may share, is not touched).
func (e *Engine) boundTemplate(t *template.Template) *template.Template {
	if t == nil {
		return nil
	}
	if b, ok := e.bound[t]; ok {
		return b
	}
	b, err := t.Clone()
	if err != nil {
		return t // cannot happen before the template ran; the stand-ins answer
	}
	b.Funcs(template.FuncMap{
		"metric": func(name string) (float64, error) { return e.related(name) },
		"hasMetric": func(name string) bool {
			_, err := e.related(name)
			return err == nil
		},
	})
	if e.bound == nil {
		e.bound = map[*template.Template]*template.Template{}
	}
	e.bound[t] = b
	return b
}

// related finds the value metric name has for the alarm being rendered.
// Caller holds e.mu.
func (e *Engine) related(name string) (float64, error) {
	r := &e.cur
	if !r.on {
		return 0, fmt.Errorf("metric %q: no alarm is being rendered", name)
	}
	ts := e.targets[r.target]
	if ts == nil {
		return 0, fmt.Errorf("metric %q: target %s has no data", name, r.target)
	}
	// agree: every label the series and the alarm both have is equal;
	// exact: the series has no label the alarm lacks.
	var agree, exact []*series
	for _, s := range ts.byName[name] {
		if !s.has {
			continue
		}
		ok, all := true, true
		for _, l := range s.labels {
			v, has := r.labels[l.Name]
			if !has {
				all = false
				continue
			}
			if v != l.Value {
				ok = false
				break
			}
		}
		if ok {
			agree = append(agree, s)
			if all {
				exact = append(exact, s)
			}
		}
	}
	var s *series
	switch {
	case len(exact) == 1:
		s = exact[0]
	case len(exact) == 0 && len(agree) == 1:
		s = agree[0]
	case len(agree) == 0:
		return 0, fmt.Errorf("metric %q: %s reports none", name, r.target)
	default:
		var sets []string
		for _, a := range agree {
			sets = append(sets, labelsText(a.labels.Map()))
		}
		slices.Sort(sets)
		return 0, fmt.Errorf("metric %q: %d series fit the alarm on %s (%s): name the label that tells them apart",
			name, len(agree), r.target, strings.Join(sets, "; "))
	}
	if age := r.now.Sub(time.Unix(0, s.t)); age > e.staleAfter(r.target) {
		return 0, fmt.Errorf("metric %q: its newest value on %s is %s old", name, r.target, age.Round(time.Second))
	}
	if math.IsNaN(s.v) {
		return 0, fmt.Errorf("metric %q: no value", name)
	}
	return s.v, nil
}

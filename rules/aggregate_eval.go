package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
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

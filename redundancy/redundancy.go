// Package redundancy turns the config's redundancy groups (three UPS
// modules in parallel, the A and B feeds of each rack, two uplinks) into
// aggregation rules, so that the first failure of a redundant pair is an
// alarm of its own, routed, silenced, acked and shown like any other:
//
//	redundancy:
//	  - name: ups-main
//	    members: {class: ups, labels: {group: ups-main}}
//	    healthy: ups_on_battery == 0 && ups_alarms_active == 0
//	    need: 2
//
// Each group makes two rules: RedundancyLost (warning) while fewer than
// all members are healthy, CapacityLost (critical) while fewer than need
// are. A member with no fresh data is unknown, never healthy. With by:
// [rack] there is one group per rack. The alarms carry the label
// redundancy: <name> (and the group's labels), on target "aggregate".
package redundancy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/rules"
)

// Group is one redundancy group as the config says it.
type Group struct {
	Name string `yaml:"name"`
	// Members choose the targets (and, by label tests in healthy, the
	// series of a target) that make up the group.
	Members Members `yaml:"members"`
	// By splits the group: one per value of these labels (rack).
	By []string `yaml:"by"`
	// Healthy is the condition a member meets when it does its part.
	Healthy string `yaml:"healthy"`
	// Need is how many healthy members carry the load: below it, the
	// capacity is lost.
	Need int `yaml:"need"`
	// For delays both alarms like a rule's for:.
	For time.Duration `yaml:"for"`
	// Labels are added to both alarms (for routing: team: facilities).
	Labels map[string]string `yaml:"labels"`
}

// Members selects a group's targets: by class, by labels, or both.
type Members struct {
	Class  string            `yaml:"class"`
	Labels map[string]string `yaml:"labels"`
}

// Rule names of the two alarms every group has.
const (
	RuleRedundancyLost = "RedundancyLost"
	RuleCapacityLost   = "CapacityLost"
)

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Compile decodes cfg's redundancy block and compiles each group into its
// two rules. Every problem names file, line and field.
func Compile(cfg *config.Config) ([]*rules.Rule, []error) {
	if cfg.Redundancy == nil {
		return nil, nil
	}
	var groups []Group
	if err := cfg.Block(cfg.Redundancy, "redundancy")(&groups); err != nil {
		return nil, []error{err}
	}
	var out []*rules.Rule
	var errs []error
	for _, r := range cfg.Rules {
		if r.Name == RuleRedundancyLost || r.Name == RuleCapacityLost {
			// The engine tells the groups' rules apart by their label;
			// a rule of its own under that name would be taken for one.
			errs = append(errs, cfg.ErrAt(r.Origin, "name", fmt.Sprintf("%s is the name of the redundancy groups' rules: choose another", r.Name)))
		}
	}
	seen := map[string]bool{}
	for i, g := range groups {
		o := config.Origin{File: cfg.File, Path: fmt.Sprintf("redundancy[%d]", i)}
		var probs []error
		if dup := seen[g.Name]; dup {
			probs = append(probs, config.Problem("name", "redundancy group %q is already defined", g.Name))
		}
		seen[g.Name] = true
		rs, err := compileGroup(g, cfg.Targets)
		if err != nil {
			probs = append(probs, err)
		}
		if len(probs) > 0 {
			for _, p := range probs {
				errs = append(errs, cfg.Place(o, "", p)...)
			}
			continue
		}
		out = append(out, rs...)
	}
	return out, errs
}

// compileGroup checks one group against the targets and makes its rules.
func compileGroup(g Group, targets []config.Target) ([]*rules.Rule, error) {
	switch {
	case g.Name == "":
		return nil, config.Problem("name", "every redundancy group needs a name")
	case !nameRE.MatchString(g.Name):
		return nil, config.Problem("name", "%q: use letters, digits and _.:-", g.Name)
	case g.Members.Class == "" && len(g.Members.Labels) == 0:
		return nil, config.Problem("members", "say which targets are members: class, labels or both")
	case strings.TrimSpace(g.Healthy) == "":
		return nil, config.Problem("healthy", "say when a member is healthy, e.g. ups_on_battery == 0")
	case g.Need < 1:
		return nil, config.Problem("need", "need is how many healthy members carry the load: 1 or more, got %d", g.Need)
	}
	for i, b := range g.By {
		if !labelRE.MatchString(b) {
			return nil, config.Problem(fmt.Sprintf("by[%d]", i), "%q cannot be a label name", b)
		}
	}
	for _, k := range sortedKeys(g.Members.Labels) {
		if !labelRE.MatchString(k) {
			return nil, config.Problem("members.labels."+k, "%q cannot be a label name", k)
		}
	}
	for _, k := range sortedKeys(g.Labels) {
		if !labelRE.MatchString(k) || k == "target" || k == rules.GroupLabel {
			return nil, config.Problem("labels."+k, "%q cannot be a label of the group's alarms", k)
		}
	}
	expected, err := members(g, targets)
	if err != nil {
		return nil, err
	}

	sel := []string{}
	if g.Members.Class != "" {
		sel = append(sel, "labels.class == "+strconv.Quote(g.Members.Class))
	}
	for _, k := range sortedKeys(g.Members.Labels) {
		sel = append(sel, "labels."+k+" == "+strconv.Quote(g.Members.Labels[k]))
	}
	h := "(" + g.Healthy + ") && " + strings.Join(sel, " && ")
	for _, b := range g.By {
		h += ", " + strconv.Quote(b)
	}
	labels := map[string]string{rules.GroupLabel: g.Name}
	for k, v := range g.Labels {
		labels[k] = v
	}
	where := "{{ .Labels." + rules.GroupLabel + " }}"
	for _, b := range g.By {
		l := b
		if b == "target" {
			l = rules.GroupTargetLabel
		}
		where += fmt.Sprintf(", %s {{ index .Labels %q }}", b, l)
	}
	tail := `{{ with .Members.failing }}; {{ . }} unhealthy{{ end }}{{ with .Members.unknown }}; {{ . }} unknown{{ end }})`
	descr := fmt.Sprintf("Members: {{ .Members.all }}. Healthy means %s; %d healthy carry the load.", g.Healthy, g.Need)
	mk := func(name, severity, cond, summary string) (*rules.Rule, error) {
		r, err := rules.Compile(config.Rule{
			Name: name, Severity: severity, For: g.For, Labels: labels,
			Expr: cond, Value: "count_by(" + h + ")", Summary: summary, Description: descr,
		})
		if err != nil {
			// The only part of the expression the user wrote.
			return nil, config.Problem("healthy", "%s", problemText(err))
		}
		r.Expect(expected)
		return r, nil
	}
	lost, err := mk(RuleRedundancyLost, "warning", "count_by("+h+") < members_by("+h+")",
		where+`: redundancy lost ({{ len .Members.healthy }} of {{ len .Members.all }} healthy`+tail)
	if err != nil {
		return nil, err
	}
	capacity, err := mk(RuleCapacityLost, "critical", fmt.Sprintf("count_by(%s) < %d", h, g.Need),
		where+fmt.Sprintf(`: capacity lost ({{ len .Members.healthy }} of {{ len .Members.all }} healthy, %d needed`, g.Need)+tail)
	if err != nil {
		return nil, err
	}
	return []*rules.Rule{lost, capacity}, nil
}

// members finds the group's targets in the config: the members it
// expects (a target that never answers is an unknown member, not a
// missing one). Grouped by labels the targets do not carry (a device's
// own, such as psu), members are found in the samples only.
func members(g Group, targets []config.Target) ([]rules.Member, error) {
	var out []rules.Member
	for _, t := range targets {
		ls := map[string]string{}
		for k, v := range t.Labels {
			ls[k] = v
		}
		ls["target"], ls["class"] = t.Name, t.Class
		if g.Members.Class != "" && t.Class != g.Members.Class {
			continue
		}
		match := true
		for k, v := range g.Members.Labels {
			match = match && ls[k] == v
		}
		if match {
			out = append(out, rules.Member{Target: t.Name, Labels: ls})
		}
	}
	if len(out) == 0 {
		return nil, config.Problem("members", "no target is a member (class %q, labels %v): the group would watch nothing", g.Members.Class, g.Members.Labels)
	}
	for i, b := range g.By {
		carried := 0
		var without []string
		for _, m := range out {
			if _, ok := m.Labels[b]; ok {
				carried++
			} else {
				without = append(without, m.Target)
			}
		}
		switch {
		case carried == 0:
			return nil, nil // a device label: the samples say who is in which group
		case len(without) > 0:
			return nil, config.Problem(fmt.Sprintf("by[%d]", i), "members %s have no label %s: they would make a group of their own", strings.Join(without, ", "), b)
		}
	}
	if slices.Contains(g.By, "target") {
		return out, nil // each target's series are the members: their number is the device's
	}
	per := map[string][]string{}
	for _, m := range out {
		var key []string
		for _, b := range g.By {
			key = append(key, b+" "+m.Labels[b])
		}
		k := strings.Join(key, ", ")
		per[k] = append(per[k], m.Target)
	}
	for _, k := range sortedKeys(per) {
		if n := len(per[k]); g.Need > n {
			where := ""
			if k != "" {
				where = " in " + k
			}
			return nil, config.Problem("need", "need %d, but the group has %d members%s (%s)", g.Need, n, where, strings.Join(per[k], ", "))
		}
	}
	return out, nil
}

func problemText(err error) string {
	probs, rest := config.Problems(err)
	var parts []string
	for _, p := range probs {
		parts = append(parts, p.Msg)
	}
	for _, e := range rest {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

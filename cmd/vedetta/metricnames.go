package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/authlog"
	execcol "github.com/vedetta-dc/vedetta/collectors/exec"
	"github.com/vedetta-dc/vedetta/collectors/files"
	"github.com/vedetta-dc/vedetta/collectors/host"
	"github.com/vedetta-dc/vedetta/collectors/ipmi"
	"github.com/vedetta-dc/vedetta/collectors/mailqueue"
	"github.com/vedetta-dc/vedetta/collectors/nut"
	"github.com/vedetta-dc/vedetta/collectors/probe"
	"github.com/vedetta-dc/vedetta/collectors/raid"
	"github.com/vedetta-dc/vedetta/collectors/smart"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/redundancy"
	"github.com/vedetta-dc/vedetta/rules"
)

// selfKind catalogues the samples vedetta writes about itself: the
// scheduler's for every target, the daemon's self-monitoring.
const selfKind = "vedetta"

// newCatalogue lists the metric names every kind can emit, one line per
// kind as in newKinds (TestCatalogueHasEveryKind keeps the two lists
// alike). The SNMP names are those of the config's profile set.
func newCatalogue(sk *snmp.Kind) *collectors.Catalogue {
	c := collectors.NewCatalogue()
	c.Register("host", host.MetricNames())
	c.Register("exec", execcol.MetricNames())
	c.Register("smart", smart.MetricNames())
	c.Register("nut", nut.MetricNames())
	c.Register("raid", raid.MetricNames())
	c.Register("files", files.MetricNames())
	c.Register("authlog", authlog.MetricNames())
	c.Register("probe", probe.MetricNames())
	c.Register("mailqueue", mailqueue.MetricNames())
	c.Register("ipmi", ipmi.MetricNames())
	c.Register("snmp", sk.MetricNames())
	c.Register(selfKind, selfMetricNames())
	return c
}

// selfMetricNames are the samples vedetta gives its own rules: the
// scheduler's (every target's) and the daemon's self-monitoring
// (health.go, state.go, cluster.go, degraded.go).
func selfMetricNames() []string {
	return append(collectors.SchedulerMetricNames(),
		model.MetricChannelUp, model.MetricProviderUp, model.MetricStateLost,
		model.MetricClusterMemberUp, model.MetricClusterQuorum)
}

// metricCheck is what checkMetricNames found.
type metricCheck struct {
	errs     []error // unknown names: the config is refused
	warnings []error // unknown names while an exec target may print anything
	// idle counts the rules that read only names no configured target
	// emits (rules for kinds this site does not have: fine, and quiet).
	idle int
}

// checkMetricNames checks that every metric a config rule reads is one
// some kind can emit. Unknown means in the catalogue of no kind and no
// profile: the shipped rule files hold rules for every kind, and a site
// with only hosts must still pass, so a name of a kind that is not
// configured is fine (it counts in idle).
//
// An exec target in prometheus format prints names its program chooses.
// When one does not list them (exec.metrics:), an unknown name may be one
// of its own: it is a warning naming those targets, not an error.
func checkMetricNames(cfg *config.Config, targets []collectors.Target, cat *collectors.Catalogue) metricCheck {
	var open []string
	configured := map[string]bool{selfKind: true}
	for _, t := range targets {
		configured[t.Spec.Kind] = true
		nl, ok := t.Collector.(collectors.NameLister)
		if !ok {
			continue
		}
		names, isOpen := nl.MetricNames()
		cat.Add(t.Spec.Kind, names...)
		if isOpen {
			open = append(open, t.Spec.Name)
		}
	}
	var res metricCheck
	for _, cr := range append(slices.Clone(cfg.Rules), redundancyRules(cfg)...) {
		uses := rules.MetricsRead(cr)
		emitted, unknown := false, false
		for _, u := range uses {
			kinds := cat.Emitters(u.Name)
			emitted = emitted || slices.ContainsFunc(kinds, func(k string) bool { return configured[k] })
			if len(kinds) > 0 {
				continue
			}
			unknown = true
			msg := fmt.Sprintf("unknown metric %q", u.Name)
			if s := cat.Suggest(u.Name); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			if len(open) > 0 {
				msg += fmt.Sprintf(": no collector emits it, unless exec target %s prints it (list its names under exec.metrics: to make them known)",
					strings.Join(open, ", "))
				res.warnings = append(res.warnings, cfg.ErrAt(cr.Origin, field(cr, u.Field), msg))
				continue
			}
			res.errs = append(res.errs, cfg.ErrAt(cr.Origin, field(cr, u.Field), msg))
		}
		if len(uses) > 0 && !emitted && !unknown {
			res.idle++
		}
	}
	return res
}

// redundancyRules are the healthy: conditions of the redundancy groups,
// as rules placed at the group (package redundancy compiles them into its
// own rules, which name no field of the config).
func redundancyRules(cfg *config.Config) []config.Rule {
	if cfg.Redundancy == nil {
		return nil
	}
	var groups []redundancy.Group
	if err := cfg.Block(cfg.Redundancy, "redundancy")(&groups); err != nil {
		return nil // redundancy.Compile says what is wrong
	}
	var out []config.Rule
	for i, g := range groups {
		out = append(out, config.Rule{Name: g.Name, Expr: g.Healthy,
			Origin: config.Origin{File: cfg.File, Path: fmt.Sprintf("redundancy[%d]", i)}})
	}
	return out
}

// field names where a name is read: a redundancy group's condition is its
// healthy:, a rule's its own field.
func field(cr config.Rule, f string) string {
	if strings.HasPrefix(cr.Origin.Path, "redundancy[") && f == "expr" {
		return "healthy"
	}
	return f
}

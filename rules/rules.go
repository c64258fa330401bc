package rules

import (
	"errors"
	"fmt"
	"text/template"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Rule is a compiled config rule.
type Rule struct {
	Name     string
	Severity string
	For      time.Duration
	Labels   map[string]string
	cond     *program
	clear    *program
	value    *program // nil: the value is 1 while the condition holds
	summary  *template.Template
	descr    *template.Template
	runbook  *template.Template
	// single: the rule reads one metric (cond and clear alike), the common
	// case with a fast path that allocates nothing per series.
	single bool
	env    map[string]any
	bind1  binding
	join   *joinScratch // the other rules' evaluation buffers (eval.go)
	// agg: an aggregation rule (aggregate.go), evaluated over every
	// target at once; expected are the targets it expects as members.
	agg      *aggregation
	expected []Member
}

// BuiltinRules are added to every configuration unless a rule of the same
// name replaces them: a target that stops answering is an alarm of its own,
// never silence.
var BuiltinRules = []config.Rule{{
	Name:     "TargetUnreachable",
	Expr:     model.MetricTargetFailures + " >= 3",
	Severity: "critical",
	Summary:  "{{ .Labels.target }} has failed {{ .Value }} collections in a row{{ with .Cause }}: {{ . }}{{ end }}",
	Origin:   config.Origin{File: "<built-in>", Path: "TargetUnreachable"},
}, {
	Name:     "NotificationChannelDown",
	Expr:     model.MetricChannelUp + " == 0",
	Severity: "critical",
	Summary:  "the {{ .Labels.channel }} channel failed on every provider: alarms on it are not getting through",
	Origin:   config.Origin{File: "<built-in>", Path: "NotificationChannelDown"},
}, {
	Name:     "NotificationProviderDown",
	Expr:     model.MetricProviderUp + " == 0",
	Severity: "warning", // one failed probe (every notify.probe_interval) is news; the next good one resolves it
	Summary:  "{{ .Labels.channel }} provider {{ .Labels.provider }} fails its health probe",
	Origin:   config.Origin{File: "<built-in>", Path: "NotificationProviderDown"},
}, {
	Name:     "StateLost",
	Expr:     model.MetricStateLost + " == 1",
	Severity: "critical",
	Summary: "vedetta lost saved state: {{ .Labels.reason }}; kept for inspection as {{ .Labels.kept }}. " +
		"Acknowledgements, silences and queued notifications from before may be gone; alarms still firing are notified again",
	Origin: config.Origin{File: "<built-in>", Path: "StateLost"},
}, {
	Name:     "ClusterMemberDown",
	Expr:     model.MetricClusterMemberUp + " == 0",
	For:      10 * time.Second, // members of a cluster that is starting join within seconds of each other
	Severity: "critical",
	Summary: "cluster member {{ .Labels.member }} ({{ .Labels.zone }}) is down: its targets are polled by the others; " +
		"one more member lost and the cluster has no quorum",
	Origin: config.Origin{File: "<built-in>", Path: "ClusterMemberDown"},
}, {
	Name:     "ClusterQuorumLost",
	Expr:     model.MetricClusterQuorum + " == 0",
	Severity: "critical",
	Summary: "cluster member {{ .Labels.node }} cannot reach a quorum of the cluster: it polls every target and " +
		"sends on its own (degraded) until the cluster is back; messages may come twice meanwhile",
	Origin: config.Origin{File: "<built-in>", Path: "ClusterQuorumLost"},
}}

// CompileRules compiles config rules (plus the built-in ones). Errors name
// each rule's file, line and field.
func CompileRules(cfg *config.Config) ([]*Rule, []error) {
	var out []*Rule
	var errs []error
	have := map[string]bool{}
	for _, r := range cfg.Rules {
		have[r.Name] = true
	}
	all := append([]config.Rule(nil), cfg.Rules...)
	for _, b := range BuiltinRules {
		if !have[b.Name] {
			all = append(all, b)
		}
	}
	for _, cr := range all {
		r, fieldErrs := compileRule(cr)
		for _, fe := range fieldErrs {
			errs = append(errs, cfg.ErrAt(cr.Origin, fe.field, fe.err.Error()))
		}
		if len(fieldErrs) == 0 {
			out = append(out, r)
		}
	}
	return out, errs
}

type fieldErr struct {
	field string
	err   error
}

func compileRule(cr config.Rule) (*Rule, []fieldErr) {
	var errs []fieldErr
	r := &Rule{Name: cr.Name, Severity: cr.Severity, For: cr.For, Labels: cr.Labels}
	var err error
	if isAggregate(cr.Expr) {
		errs = compileAggregate(cr, r)
		if r.summary, err = parseTemplate(cr.Name, cr.Summary); err != nil {
			errs = append(errs, fieldErr{"summary", fmt.Errorf("bad template: %v", err)})
		}
		if r.descr, err = parseTemplate(cr.Name, cr.Description); err != nil {
			errs = append(errs, fieldErr{"description", fmt.Errorf("bad template: %v", err)})
		}
		if r.runbook, err = parseTemplate(cr.Name, cr.Runbook); err != nil {
			errs = append(errs, fieldErr{"runbook", fmt.Errorf("bad template: %v", err)})
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return r, nil
	}
	if r.cond, err = compile(cr.Expr, true); err != nil {
		errs = append(errs, fieldErr{"expr", err})
	}
	if cr.Clear != "" {
		if r.clear, err = compile(cr.Clear, true); err != nil {
			errs = append(errs, fieldErr{"clear", err})
		}
	}
	if cr.Value != "" {
		if r.value, err = compile(cr.Value, false); err != nil {
			errs = append(errs, fieldErr{"value", err})
		}
	} else if v := valueSource(cr.Expr); v != "" {
		// The value is informative: a condition whose left side is not a
		// number (absent(...)) simply has value 1.
		r.value, _ = compile(v, false)
	}
	if r.summary, err = parseTemplate(cr.Name, cr.Summary); err != nil {
		errs = append(errs, fieldErr{"summary", fmt.Errorf("bad template: %v", err)})
	}
	if r.descr, err = parseTemplate(cr.Name, cr.Description); err != nil {
		errs = append(errs, fieldErr{"description", fmt.Errorf("bad template: %v", err)})
	}
	if r.runbook, err = parseTemplate(cr.Name, cr.Runbook); err != nil {
		errs = append(errs, fieldErr{"runbook", fmt.Errorf("bad template: %v", err)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	m := r.cond.metrics[0]
	r.single = len(r.cond.metrics) == 1 && (r.clear == nil || len(r.clear.metrics) == 1 && r.clear.metrics[0] == m) &&
		(r.value == nil || len(r.value.metrics) == 1 && r.value.metrics[0] == m)
	r.env = map[string]any{}
	r.bind1.series = map[string]*series{}
	if !r.single {
		r.join = newJoinScratch(r)
	}
	return r, nil
}

// Compile compiles one rule on its own (a rule a module makes, such as a
// redundancy group's); errors are config.Problem, naming the rule's field.
func Compile(cr config.Rule) (*Rule, error) {
	r, fieldErrs := compileRule(cr)
	var errs []error
	for _, fe := range fieldErrs {
		errs = append(errs, config.Problem(fe.field, "%s", fe.err.Error()))
	}
	return r, errors.Join(errs...)
}

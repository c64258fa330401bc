package rules

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Aggregation rules read the newest sample of every target at once:
//
//	count_by(psu_ok == 1, "target") < 2
//	count_by(ups_on_battery == 0 && labels.group == "ups-main") < 2
//	min_by(ups_battery_charge_percent, "room") < 50
//	count_by(H, "rack") < members_by(H, "rack")   (H: the same condition)
//
// count_by(cond, "label"...) counts the members for which cond holds,
// sum_by/min_by/max_by/avg_by(number, "label"...) aggregate a number,
// unknown_by(cond, "label"...) counts the members with no fresh data and
// members_by(cond, "label"...) counts every member, known or not. The
// strings are the labels members are grouped by (none: one group); every
// aggregation of one rule groups by the same labels. A member is one label
// set the inner expression binds (a UPS, a PSU of a server); the
// conjuncts of the inner expression that read only labels (labels.group ==
// "ups-main") choose the members, the rest says whether a member is
// healthy, so a UPS of another group is no failing member of this one.
//
// A member whose samples are older than its target's stale window
// (staleAfter) is unknown: never healthy, never counted in sum/min/max/avg.
// The alarm's labels are the group's (the "by" labels) and the rule's,
// with target AggregateTarget; summaries see .Members.failing,
// .Members.healthy, .Members.unknown and .Members.all.

// AggregateTarget is the target of aggregation alarms: they belong to no
// one device. In a cluster the member holding the dispatcher's office
// evaluates them, as it does the cluster's own alarms.
const AggregateTarget = "aggregate"

// GroupTargetLabel holds the target of a group grouped by "target" (the
// alarm's own target label is AggregateTarget).
const GroupTargetLabel = "group_target"

// aggFuncs maps each aggregation to whether its first argument is a
// condition (else a number).
var aggFuncs = map[string]bool{
	"count_by": true, "unknown_by": true, "members_by": true,
	"sum_by": false, "min_by": false, "max_by": false, "avg_by": false,
}

// aggregation is the compiled form of an aggregation rule.
type aggregation struct {
	by    []string
	calls []*aggCall
	exprs []*memberExpr // distinct inner expressions, in order
	cond  *vm.Program
	clear *vm.Program // nil: none
	value *vm.Program // nil: the first call's value
}

// aggCall is one aggregation in the rule, replaced by a variable.
type aggCall struct {
	fn    string
	inner *memberExpr
	ident string
	key   string
}

// memberExpr is an inner expression: which label sets are members and
// what their health (or number) is.
type memberExpr struct {
	src    string
	health *program   // the conjuncts that read metrics
	parts  []*program // each of them alone (conditions): why a member fails
	sel    *vm.Program
	cond   bool
}

func isAggregate(src string) bool {
	tree, err := parser.Parse(rewriteDurations(src))
	if err != nil {
		return false
	}
	found := false
	ast.Find(tree.Node, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok {
				if _, agg := aggFuncs[id.Value]; agg {
					found = true
				}
			}
		}
		return found
	})
	return found
}

// compileAggregate compiles an aggregation rule: its expr, clear and value
// each may use the aggregations (and only them, numbers and operators).
func compileAggregate(cr config.Rule, r *Rule) []fieldErr {
	ag := &aggregation{}
	var errs []fieldErr
	var err error
	if ag.cond, err = ag.compileOuter(cr.Expr, true); err != nil {
		errs = append(errs, fieldErr{"expr", err})
	}
	if cr.Clear != "" {
		if ag.clear, err = ag.compileOuter(cr.Clear, true); err != nil {
			errs = append(errs, fieldErr{"clear", err})
		}
	}
	if cr.Value != "" {
		if ag.value, err = ag.compileOuter(cr.Value, false); err != nil {
			errs = append(errs, fieldErr{"value", err})
		}
	} else if v := valueSource(cr.Expr); v != "" && len(errs) == 0 {
		ag.value, _ = ag.compileOuter(v, false)
	}
	r.agg = ag
	return errs
}

// compileOuter compiles one outer expression: each aggregation call
// becomes a variable (__a0...) computed per group before it runs.
func (ag *aggregation) compileOuter(src string, asBool bool) (*vm.Program, error) {
	rewritten := rewriteDurations(src)
	tree, err := parser.Parse(rewritten)
	if err != nil {
		return nil, cleanExprErr(err)
	}
	// First pass: find and compile the calls (the patch below only swaps
	// them for their variables).
	var ferr error
	ast.Find(tree.Node, func(n ast.Node) bool {
		c, ok := n.(*ast.CallNode)
		if !ok || ferr != nil {
			return false
		}
		id, ok := c.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		if _, agg := aggFuncs[id.Value]; !agg {
			return false
		}
		if _, err := ag.add(id.Value, c); err != nil {
			ferr = err
		}
		return false
	})
	if ferr != nil {
		return nil, ferr
	}
	env := map[string]any{}
	for _, c := range ag.calls {
		env[c.ident] = 0.0
	}
	opts := []expr.Option{expr.Env(env), expr.Patch(aggPatch{ag: ag})}
	if asBool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsFloat64())
	}
	prog, err := expr.Compile(rewritten, opts...)
	if err != nil {
		msg := cleanExprErr(err).Error()
		if strings.Contains(msg, "unknown name") {
			msg += " (outside count_by()/sum_by()... an aggregation rule reads no metric: wrap it in an aggregation)"
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return prog, nil
}

type aggPatch struct{ ag *aggregation }

func (p aggPatch) Visit(node *ast.Node) {
	c, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if _, agg := aggFuncs[id.Value]; !agg {
		return
	}
	key, _, _ := callKey(id.Value, c)
	for _, ac := range p.ag.calls {
		if ac.key == key {
			ast.Patch(node, &ast.IdentifierNode{Value: ac.ident})
			return
		}
	}
}

// callKey identifies a call by function, inner expression and grouping.
func callKey(fn string, c *ast.CallNode) (key string, by []string, err error) {
	if len(c.Arguments) == 0 {
		return "", nil, fmt.Errorf("%s() takes an expression and the labels to group by, e.g. %s(psu_ok == 1, \"rack\")", fn, fn)
	}
	for _, a := range c.Arguments[1:] {
		s, ok := a.(*ast.StringNode)
		if !ok {
			return "", nil, fmt.Errorf("%s(): the labels to group by are strings, e.g. %s(psu_ok == 1, \"rack\")", fn, fn)
		}
		by = append(by, s.Value)
	}
	return fn + "\x00" + c.Arguments[0].String() + "\x00" + strings.Join(by, "\x00"), by, nil
}

func (ag *aggregation) add(fn string, c *ast.CallNode) (*aggCall, error) {
	key, by, err := callKey(fn, c)
	if err != nil {
		return nil, err
	}
	for _, ac := range ag.calls {
		if ac.key == key {
			return ac, nil
		}
	}
	sorted := slices.Sorted(slices.Values(by))
	if len(ag.calls) == 0 {
		ag.by = sorted
	} else if !slices.Equal(ag.by, sorted) {
		return nil, fmt.Errorf("every aggregation of a rule groups by the same labels (%s() by %q, another by %q)", fn, by, ag.by)
	}
	inner := c.Arguments[0]
	src := inner.String()
	cond := aggFuncs[fn]
	var me *memberExpr
	for _, x := range ag.exprs {
		if x.src == src && x.cond == cond {
			me = x
		}
	}
	if me == nil {
		if me, err = compileMember(fn, inner, cond); err != nil {
			return nil, err
		}
		ag.exprs = append(ag.exprs, me)
	}
	ac := &aggCall{fn: fn, inner: me, ident: "__a" + strconv.Itoa(len(ag.calls)), key: key}
	ag.calls = append(ag.calls, ac)
	return ac, nil
}

// compileMember splits an inner expression into its member selector (the
// conjuncts that read only labels) and its health (the rest).
func compileMember(fn string, inner ast.Node, cond bool) (*memberExpr, error) {
	var conj []ast.Node
	var split func(n ast.Node)
	split = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			split(b.Left)
			split(b.Right)
			return
		}
		conj = append(conj, n)
	}
	if cond {
		split(inner)
	} else {
		conj = []ast.Node{inner}
	}
	var sel, health []string
	for _, n := range conj {
		a := &analysis{seen: map[string]bool{}, instant: map[string]bool{}}
		a.walk(n, false)
		if a.err != nil {
			return nil, a.err
		}
		if ast.Find(n, func(x ast.Node) bool {
			if c, ok := x.(*ast.CallNode); ok {
				if id, ok := c.Callee.(*ast.IdentifierNode); ok {
					_, agg := aggFuncs[id.Value]
					return agg
				}
			}
			return false
		}) != nil {
			return nil, fmt.Errorf("%s(): aggregations do not nest", fn)
		}
		if len(a.metrics) == 0 && a.labels && cond {
			sel = append(sel, "("+n.String()+")")
		} else {
			health = append(health, "("+n.String()+")")
		}
	}
	if len(health) == 0 {
		return nil, fmt.Errorf("%s() needs a metric to read, e.g. %s(psu_ok == 1, \"rack\")", fn, fn)
	}
	me := &memberExpr{src: inner.String(), cond: cond}
	var err error
	if me.health, err = compile(strings.Join(health, " && "), cond); err != nil {
		return nil, fmt.Errorf("%s(): %v", fn, err)
	}
	if len(me.health.windows) > 0 {
		// Cluster members publish the newest value of each series only.
		return nil, fmt.Errorf("%s(): window functions (rate, delta...) cannot be used inside an aggregation", fn)
	}
	if cond && len(health) > 1 {
		for _, h := range health {
			p, err := compile(h, true)
			if err != nil {
				return nil, fmt.Errorf("%s(): %v", fn, err)
			}
			me.parts = append(me.parts, p)
		}
	}
	if len(sel) > 0 {
		src := strings.Join(sel, " && ")
		me.sel, err = expr.Compile(src, expr.Env(map[string]any{"labels": map[string]string{}}), expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("%s(): %v", fn, cleanExprErr(err))
		}
	}
	return me, nil
}

// aggMetrics lists the metrics an aggregation rule reads (nil for others):
// what cluster members publish for the dispatcher to aggregate.
func (r *Rule) aggMetrics() []string {
	if r.agg == nil {
		return nil
	}
	var out []string
	for _, me := range r.agg.exprs {
		for _, m := range me.health.metrics {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Member is a target a rule expects in its groups (a redundancy group's
// member targets, from the config): one that has sent nothing the rule
// reads is an unknown member, not an absent one. Labels are the target's
// (target, class and its labels:), which place it in its group.
type Member struct {
	Target string
	Labels map[string]string
}

// Expect sets the targets an aggregation rule expects (see Member).
func (r *Rule) Expect(ms []Member) { r.expected = ms }

// IsAggregate says whether r aggregates over targets.
func (r *Rule) IsAggregate() bool { return r.agg != nil }

// MemberList is a list of members as a summary prints it: "ups-b
// (ups_on_battery = 1), ups-c (no data)". len works on it.
type MemberList []string

func (l MemberList) String() string { return strings.Join(l, ", ") }

func numberText(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Rule expressions are expr-lang (github.com/expr-lang/expr) over metric
// names, evaluated once per label set:
//
//	host_filesystem_used_ratio > 0.9
//	ups_on_battery == 1 && ups_battery_runtime_seconds < 600
//	labels.mountpoint == "/" && host_filesystem_used_ratio > 0.8
//	delta(sensor_temperature_celsius, 10m) > 5
//	increase(auth_failures_total, 5m) > 20
//
// Window functions take a metric name and a duration literal (30s, 5m, 2h,
// 1d): rate, increase, delta, avg_over, max_over, min_over, count_over, and
// absent (true when the series has had no sample for that long).

// windowFuncs maps each window function to whether it returns a bool.
var windowFuncs = map[string]bool{
	"rate": false, "increase": false, "delta": false,
	"avg_over": false, "max_over": false, "min_over": false, "count_over": false,
	"absent": true,
}

// durationLit matches 5m, 1.5h, 30s, 2d, 500ms outside strings; it must not
// start inside an identifier (host_load1 stays what it is).
var durationLit = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)\b`)

// rewriteDurations turns duration literals into seconds, skipping strings.
func rewriteDurations(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); {
		c := src[i]
		if c == '"' || c == '\'' || c == '`' {
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j < len(src) {
				j++
			}
			b.WriteString(src[i:j])
			i = j
			continue
		}
		prevWord := i > 0 && (isWord(src[i-1]) || src[i-1] == '.')
		if c >= '0' && c <= '9' && !prevWord {
			if m := durationLit.FindStringSubmatch(src[i:]); m != nil {
				f, _ := strconv.ParseFloat(m[1], 64)
				mult := map[string]float64{"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m[2]]
				b.WriteString(strconv.FormatFloat(f*mult, 'f', -1, 64))
				i += len(m[0])
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// program is one compiled expression plus what it reads.
type program struct {
	src     string
	prog    *vm.Program
	metrics []string // every metric it reads, first one first
	instant map[string]bool
	labels  bool // reads labels.X
	lvars   []labelVar
	windows []windowCall
	machine vm.VM
}

// labelVar is labels.NAME turned into a variable, so that reading a label
// is a plain variable load (no reflection, no allocation).
type labelVar struct {
	name, ident string
}

// labelPatch rewrites labels.NAME and labels["NAME"] into __l_NAME.
type labelPatch struct {
	vars *[]labelVar
}

func (l labelPatch) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || !isLabelAccess(m) {
		return
	}
	key, ok := m.Property.(*ast.StringNode)
	if !ok {
		return // a computed key: left to the labels map
	}
	ident := "__l_" + key.Value
	found := false
	for _, v := range *l.vars {
		found = found || v.ident == ident
	}
	if !found {
		*l.vars = append(*l.vars, labelVar{name: key.Value, ident: ident})
	}
	ast.Patch(node, &ast.IdentifierNode{Value: ident})
}

// windowCall is one window function in an expression, computed before
// the program runs and handed to it as a variable: no function call, and
// no allocation when the result has not changed.
type windowCall struct {
	fn     string
	metric string
	secs   float64
	ident  string
	key    string // fn and window: the same call in two rules shares a box
}

// binding is the series chosen for each metric for one evaluation.
type binding struct {
	// labels is the one series whose labels are the alarm's (single-metric
	// rules); nil for joins, which read env["labels"].
	labels *series
	series map[string]*series
	now    int64 // unix nanoseconds
	// row and join: a join's series, whose labels.x the rule's scratch
	// finds without the labels map (nil: read env["labels"]).
	row  []*series
	join *joinScratch
}

// analysis walks the parsed tree: metric identifiers, window calls.
type analysis struct {
	metrics []string
	seen    map[string]bool
	instant map[string]bool
	labels  bool
	err     error
}

func (a *analysis) add(name string, instant bool) {
	if !a.seen[name] {
		a.seen[name] = true
		a.metrics = append(a.metrics, name)
	}
	if instant {
		a.instant[name] = true
	}
}

// reserved identifiers are not metrics.
var reserved = map[string]bool{"labels": true, "true": true, "false": true, "nil": true, "now": true}

func (a *analysis) walk(n ast.Node, callee bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if !callee && !reserved[n.Value] {
			a.add(n.Value, true)
		}
		if n.Value == "labels" {
			a.labels = true
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if ok {
			if _, win := windowFuncs[id.Value]; win {
				if len(n.Arguments) != 2 {
					a.fail("%s() takes a metric and a duration, e.g. %s(m, 5m)", id.Value, id.Value)
					return
				}
				m, ok := n.Arguments[0].(*ast.IdentifierNode)
				if !ok {
					a.fail("the first argument of %s() must be a metric name", id.Value)
					return
				}
				a.add(m.Value, false)
				w, ok := number(n.Arguments[1])
				if !ok || w <= 0 {
					a.fail("the second argument of %s() must be a duration such as 5m", id.Value)
					return
				}
				return
			}
		}
		a.walk(n.Callee, true)
		for _, arg := range n.Arguments {
			a.walk(arg, false)
		}
	case *ast.MemberNode:
		a.walk(n.Node, false) // the property is a key, not a metric
	case *ast.BinaryNode:
		a.walk(n.Left, false)
		a.walk(n.Right, false)
	case *ast.UnaryNode:
		a.walk(n.Node, false)
	case *ast.ConditionalNode:
		a.walk(n.Cond, false)
		a.walk(n.Exp1, false)
		a.walk(n.Exp2, false)
	case *ast.BuiltinNode:
		for _, arg := range n.Arguments {
			a.walk(arg, false)
		}
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			a.walk(e, false)
		}
	}
}

func (a *analysis) fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf(format, args...)
	}
}

func number(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	}
	return 0, false
}

// windowPatch replaces each window call by a variable (__w0, __w1...)
// whose value run computes first.
type windowPatch struct {
	calls *[]windowCall
}

func (w windowPatch) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if _, win := windowFuncs[id.Value]; !win || len(call.Arguments) != 2 {
		return
	}
	m, ok := call.Arguments[0].(*ast.IdentifierNode)
	secs, ok2 := number(call.Arguments[1])
	if !ok || !ok2 {
		return
	}
	ident := fmt.Sprintf("__w%d", len(*w.calls))
	*w.calls = append(*w.calls, windowCall{fn: id.Value, metric: m.Value, secs: secs, ident: ident,
		key: id.Value + "/" + strconv.FormatFloat(secs, 'g', -1, 64)})
	ast.Patch(node, &ast.IdentifierNode{Value: ident})
}

// compile builds a program. asBool: the rule condition; else a number (the
// alarm's value).
func compile(src string, asBool bool) (*program, error) {
	rewritten := rewriteDurations(src)
	tree, err := parser.Parse(rewritten)
	if err != nil {
		return nil, cleanExprErr(err)
	}
	a := &analysis{seen: map[string]bool{}, instant: map[string]bool{}}
	a.walk(tree.Node, false)
	if a.err != nil {
		return nil, a.err
	}
	if len(a.metrics) == 0 {
		return nil, fmt.Errorf("the expression reads no metric")
	}
	p := &program{src: src, metrics: a.metrics, instant: a.instant, labels: a.labels}
	env := map[string]any{"labels": map[string]string{}}
	for _, m := range a.metrics {
		if a.instant[m] {
			env[m] = 0.0
		}
	}
	// Declare the variables the patch will introduce, with their types.
	var probe []windowCall
	ast.Walk(&tree.Node, windowPatch{calls: &probe})
	for _, w := range probe {
		if windowFuncs[w.fn] {
			env[w.ident] = false
		} else {
			env[w.ident] = 0.0
		}
	}
	var lprobe []labelVar
	ast.Walk(&tree.Node, labelPatch{vars: &lprobe})
	for _, v := range lprobe {
		env[v.ident] = ""
	}
	opts := []expr.Option{expr.Env(env), expr.Patch(windowPatch{calls: &p.windows}), expr.Patch(labelPatch{vars: &p.lvars})}
	if asBool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsFloat64())
	}
	prog, err := expr.Compile(rewritten, opts...)
	if err != nil {
		return nil, cleanExprErr(err)
	}
	p.prog = prog
	return p, nil
}

func cleanExprErr(err error) error {
	// expr's errors carry a caret diagram on later lines; the first line is
	// what belongs in a one-line config error.
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("cannot parse expression: %s", msg)
}

// run evaluates the program with env bound: window values first.
func (p *program) run(env map[string]any, b *binding) (any, error) {
	if len(p.lvars) > 0 {
		ls, _ := env["labels"].(map[string]string)
		for _, v := range p.lvars {
			if b.labels != nil {
				env[v.ident] = b.labels.labelBoxed(v.name)
			} else if b.join != nil {
				env[v.ident] = b.join.labelBoxed(v.name, b.row)
			} else {
				env[v.ident] = ls[v.name]
			}
		}
	}
	for _, w := range p.windows {
		s := b.series[w.metric]
		from := b.now - int64(w.secs*1e9)
		if w.fn == "absent" {
			env[w.ident] = s == nil || s.lastTime() < from
			continue
		}
		if s == nil {
			env[w.ident] = math.NaN()
			continue
		}
		env[w.ident] = s.box(w.key, s.window(w.fn, from))
	}
	return p.machine.Run(p.prog, env)
}

// valueSource picks the part of a condition that is the alarm's value: the
// left side of its first comparison that is not a state test
// (host_filesystem_used_ratio in "host_filesystem_used_ratio > 0.9";
// ups_battery_runtime_seconds, not the flag, in "ups_on_battery == 1 &&
// ups_battery_runtime_seconds < 600": the flag made "on battery with 1s
// left" of 8 minutes), else of the first comparison. Empty when there is
// none. A rule's `value:` overrides it.
func valueSource(src string) string {
	tree, err := parser.Parse(rewriteDurations(src))
	if err != nil {
		return ""
	}
	var found []ast.Node // left sides, in order
	var flags []bool     // whether each is a state test
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch n := n.(type) {
		case *ast.BinaryNode:
			switch n.Operator {
			case ">", ">=", "<", "<=", "==", "!=":
				if !isLabelAccess(n.Left) {
					found = append(found, n.Left)
					flags = append(flags, (n.Operator == "==" || n.Operator == "!=") && isZeroOrOne(n.Right))
				}
			case "&&", "||", "and", "or":
				walk(n.Left)
				walk(n.Right)
			}
		case *ast.UnaryNode:
			walk(n.Node)
		case *ast.CallNode:
			found = append(found, n) // absent(m, 5m): the value is 1
			flags = append(flags, false)
		}
	}
	walk(tree.Node)
	if len(found) == 0 {
		return ""
	}
	for i, f := range found {
		if !flags[i] {
			return f.String()
		}
	}
	return found[0].String()
}

// isZeroOrOne: the literal of a state test (x == 1, x != 0).
func isZeroOrOne(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value == 0 || n.Value == 1
	case *ast.FloatNode:
		return n.Value == 0 || n.Value == 1
	}
	return false
}

func isLabelAccess(n ast.Node) bool {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	return ok && id.Value == "labels"
}

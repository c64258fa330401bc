package rules

import (
	"maps"
	"slices"
	"text/template/parse"

	"github.com/expr-lang/expr/parser"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// MetricUse is one metric a rule reads, and the field of the rule that
// reads it (expr, clear, value, summary, description).
type MetricUse struct {
	Field string
	Name  string
}

// MetricsRead lists the metrics a config rule reads, field by field, each
// once per field, in order: the identifiers of its expressions that the
// engine binds to series (the same walk of expr-lang's syntax tree that
// compile does, aggregations' inner expressions included) and the names
// its templates pass to `metric`. A field that does not parse is left
// out: compiling it says what is wrong.
func MetricsRead(cr config.Rule) []MetricUse {
	var out []MetricUse
	for _, f := range []struct{ field, src string }{{"expr", cr.Expr}, {"clear", cr.Clear}, {"value", cr.Value}} {
		for _, n := range exprMetrics(f.src) {
			out = append(out, MetricUse{Field: f.field, Name: n})
		}
	}
	for _, f := range []struct{ field, src string }{{"summary", cr.Summary}, {"description", cr.Description}} {
		for _, n := range templateMetrics(f.src) {
			out = append(out, MetricUse{Field: f.field, Name: n})
		}
	}
	return out
}

// exprMetrics is what compile's analysis calls metrics in src.
func exprMetrics(src string) []string {
	if src == "" {
		return nil
	}
	tree, err := parser.Parse(rewriteDurations(src))
	if err != nil {
		return nil
	}
	a := &analysis{seen: map[string]bool{}, instant: map[string]bool{}}
	a.walk(tree.Node, false)
	return a.metrics
}

// templateMetricFunc is the template function that reads another metric
// of the alarm's label set: {{ metric "ups_battery_runtime_seconds" }}.
const templateMetricFunc = "metric"

// templateMetrics lists the literal names a template passes to metric,
// either as {{ metric "name" }} or {{ "name" | metric }}. The template is
// parsed without checking its functions: which ones exist is parseTemplate's
// business, this only reads names.
func templateMetrics(text string) []string {
	if text == "" {
		return nil
	}
	t := parse.New("rule")
	t.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return nil
	}
	w := &tmplWalk{seen: map[string]bool{}}
	for _, name := range slices.Sorted(maps.Keys(trees)) {
		w.node(trees[name].Root)
	}
	return w.names
}

type tmplWalk struct {
	names []string
	seen  map[string]bool
}

func (w *tmplWalk) add(n string) {
	if !w.seen[n] {
		w.seen[n] = true
		w.names = append(w.names, n)
	}
}

func (w *tmplWalk) node(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c)
		}
	case *parse.ActionNode:
		w.pipe(n.Pipe)
	case *parse.IfNode:
		w.branch(&n.BranchNode)
	case *parse.RangeNode:
		w.branch(&n.BranchNode)
	case *parse.WithNode:
		w.branch(&n.BranchNode)
	case *parse.TemplateNode:
		w.pipe(n.Pipe)
	}
}

func (w *tmplWalk) branch(b *parse.BranchNode) {
	w.pipe(b.Pipe)
	w.node(b.List)
	w.node(b.ElseList)
}

func (w *tmplWalk) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for i, c := range p.Cmds {
		if len(c.Args) == 0 {
			continue
		}
		if isIdent(c.Args[0], templateMetricFunc) {
			switch {
			case len(c.Args) > 1:
				if s, ok := c.Args[1].(*parse.StringNode); ok {
					w.add(s.Text)
				}
			case i > 0 && len(p.Cmds[i-1].Args) == 1:
				// "name" | metric: the name is the previous command.
				if s, ok := p.Cmds[i-1].Args[0].(*parse.StringNode); ok {
					w.add(s.Text)
				}
			}
		}
		for _, a := range c.Args {
			if sub, ok := a.(*parse.PipeNode); ok {
				w.pipe(sub) // (metric "x") inside another call
			}
		}
	}
}

func isIdent(n parse.Node, name string) bool {
	id, ok := n.(*parse.IdentifierNode)
	return ok && id.Ident == name
}

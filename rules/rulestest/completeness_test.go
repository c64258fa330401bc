package rulestest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// claimed reads the tables of every collectors/*/shipped_rules_test.go:
// the Rule: of each Case literal, and the file it is in.
func claimed(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testpeer.RepoRoot(t), "collectors", "*", "shipped_rules_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no collectors/*/shipped_rules_test.go: %v", err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(testpeer.RepoRoot(t), f)
		ast.Inspect(file, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Rule" {
				return true
			}
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[s] = append(out[s], rel)
				}
			}
			return true
		})
	}
	return out
}

// TestEveryShippedRuleHasACase: each rule of configs/rules.d/*.yaml and of
// configs/redundancy.yaml has a row in some collector's table of shipped
// rule summaries (a new rule without one fails here), every row names a
// shipped rule, and every shipped rule says in a line what it is about.
func TestEveryShippedRuleHasACase(t *testing.T) {
	have := claimed(t)
	shipped := map[string]bool{}
	n := 0
	for _, f := range ShippedRuleFiles(t) {
		for _, r := range f.Rules {
			n++
			shipped[r.Name] = true
			if len(have[r.Name]) == 0 {
				t.Errorf("%s: rule %s has no row in any collectors/*/shipped_rules_test.go", f.Name, r.Name)
			}
			if r.Description == "" {
				t.Errorf("%s: rule %s has no description", f.Name, r.Name)
			}
		}
	}
	var names []string
	for name := range have {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !shipped[name] {
			t.Errorf("%v: a row for %s, which no shipped file defines", have[name], name)
		}
	}
	t.Logf("%d shipped rules, %d with a row", n, len(have))
}

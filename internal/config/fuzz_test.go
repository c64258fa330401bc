package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds the loader random YAML: it must return a config or an
// error listing where the problems are, never panic; a config it accepts
// must hold what validation promises.
//
// Seeds: configs/*.yaml, their rule files, and the built-in default. An
// input that would make the loader read outside its folder (an absolute or
// .. path, or one from ${ENV}, for a *_file or rule_files) is skipped, so
// that the fuzzer never opens /dev/zero.
func FuzzLoad(f *testing.F) {
	configs := filepath.Join("..", "..", "configs")
	seeds, _ := filepath.Glob(filepath.Join(configs, "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(configs, "rules.d", "*.yaml"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// The inputs sit in a folder holding the example secrets (so *_file
	// resolves) and no rule files: reading and parsing configs/rules.d on
	// every input made it 5x slower, and each rule file is a seed itself.
	dir := f.TempDir()
	secrets, _ := filepath.Glob(filepath.Join(configs, "secrets", "*"))
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o755); err != nil {
		f.Fatal(err)
	}
	for _, p := range secrets {
		if b, err := os.ReadFile(p); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "secrets", filepath.Base(p)), b, 0o600); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add(BuiltinYAML())
	for _, s := range []string{"", "---", "null", "[]", "x: [", "targets: 1", "targets: [{}]", "a: &a [*a]",
		"targets:\n  - &t {name: a, kind: host}\n  - *t\n", "rules: [{name: r, expr: '1', for: 1e9999d}]",
		"targets: [{name: a, kind: host, interval: 2562047h2562047h2562047h}]", "targets: [{name: a, kind: host, interval: 15000w}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if readsOutside(data) {
			t.Skip("would read a file outside configs/")
		}
		cfg, err := parse(data, "fuzz.yaml", dir)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %T %q: want *Errors listing the problems", err, err)
			}
			for _, e := range errs.List {
				if e.File == "" || e.Msg == "" {
					t.Errorf("error without a file or a message: %+v", e)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		checkValid(t, cfg)
	})
}

// TestParseDurationBounds: the cases FuzzLoad found. A sum of terms used
// to wrap around (and a 15000w interval made a negative default timeout).
func TestParseDurationBounds(t *testing.T) {
	for in, want := range map[string]time.Duration{"3650d": MaxDuration, "521w": 521 * 7 * 24 * time.Hour,
		"87600h": MaxDuration, "3649d24h": MaxDuration, "1.5d": 36 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"3651d", "522w", "87601h", "2562047h2562047h2562047h", "15000w", "9999999999999999999d",
		"1e300d", "3650d1ns", "2562048h"} {
		if d, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", bad, d)
		}
	}
}

// TestSuggestIsDeterministic: found by FuzzLoad, whose coverage flickered
// with map order. Two keys as close to a typo were suggested one run in two.
func TestSuggestIsDeterministic(t *testing.T) {
	for i := 0; i < 50; i++ {
		_, err := parse([]byte("rutes: []\n"), "v.yaml", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), `did you mean "routes"?`) {
			t.Fatalf("run %d: %v, want the suggestion routes (before rules, alphabetically)", i, err)
		}
	}
}

// checkValid asserts what validate promises of an accepted config.
func checkValid(t *testing.T, c *Config) {
	t.Helper()
	if c.MaxConcurrent < 1 || c.HTTP.Listen == "" || c.StateDir == "" {
		t.Errorf("defaults not applied: max_concurrent %d listen %q state_dir %q", c.MaxConcurrent, c.HTTP.Listen, c.StateDir)
	}
	names := map[string]bool{}
	for _, tg := range c.Targets {
		if !nameRE.MatchString(tg.Name) || names[tg.Name] || tg.Kind == "" {
			t.Errorf("target %q kind %q accepted (empty, invalid or twice)", tg.Name, tg.Kind)
		}
		names[tg.Name] = true
		if tg.Interval < time.Second || tg.Timeout <= 0 || tg.Timeout >= tg.Interval {
			t.Errorf("target %q: interval %v timeout %v accepted", tg.Name, tg.Interval, tg.Timeout)
		}
	}
	rules := map[string]bool{}
	for _, r := range c.Rules {
		if r.Name == "" || rules[r.Name] || strings.TrimSpace(r.Expr) == "" || !oneOf(r.Severity, Severities...) {
			t.Errorf("rule %q (expr %q, severity %q) accepted", r.Name, r.Expr, r.Severity)
		}
		rules[r.Name] = true
	}
	if e := c.Notify.Email; e != nil {
		for _, r := range e.Relays {
			if r.Host == "" || r.Port < 1 || r.Port > 65535 || r.Timeout < 0 {
				t.Errorf("relay %+v accepted", r)
			}
		}
	}
}

// readsOutside reports whether loading data could read a file outside its
// folder: a rule_files entry or a *_file value that is absolute,
// climbs with .., or comes from the environment (also through a key).
func readsOutside(data []byte) bool {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return false // refused before any file is read
	}
	risky := func(n *yaml.Node) bool {
		bad := false
		var walk func(n *yaml.Node, depth int)
		walk = func(n *yaml.Node, depth int) {
			if n == nil || depth > 50 || bad {
				return
			}
			if n.Kind == yaml.AliasNode {
				walk(n.Alias, depth+1)
				return
			}
			v := n.Value
			if n.Kind == yaml.ScalarNode && (filepath.IsAbs(v) || strings.Contains(v, "..") || strings.Contains(v, "${")) {
				bad = true
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		}
		walk(n, 0)
		return bad
	}
	found := false
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 50 || found {
			return
		}
		if n.Kind == yaml.AliasNode {
			walk(n.Alias, depth+1)
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if strings.Contains(k, "${") || (k == "rule_files" || strings.HasSuffix(k, "_file")) && risky(n.Content[i+1]) {
					found = true
					return
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(&root, 0)
	return found
}

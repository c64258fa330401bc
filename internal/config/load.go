// Package config loads vedetta's YAML configuration: strictly (unknown keys
// are errors), with ${ENV} expansion and *_file secrets, defaults applied,
// then validated; every problem names the file, the line and the field.
//
// The kind-specific part of a target (snmp:, exec:, profiles:...) is kept as a
// raw node and decoded by the collector that owns it, through Decoder, with
// the same strictness and the same error positions.
package config

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Loading: parse, ${ENV}, rule files, and where each field is (for
// errors that name file and line).

// Load reads path, its rule files, applies defaults and validates. On error
// the returned Config may be partial; the error is *Errors listing every
// problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{List: []FieldError{{File: path, Msg: err.Error()}}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return parse(data, path, filepath.Dir(abs))
}

// Builtin is the configuration `vedetta run` uses when there is no file:
// the host collector on this machine, a handful of host rules, alarms to
// the log.
func Builtin() *Config {
	dir, _ := os.Getwd()
	cfg, err := parse(builtinYAML, BuiltinName, dir)
	if err != nil {
		panic("built-in default config is broken: " + err.Error())
	}
	return cfg
}

// BuiltinYAML returns the text of the built-in default.
func BuiltinYAML() []byte { return append([]byte(nil), builtinYAML...) }

func parse(data []byte, file, dir string) (*Config, error) {
	errs := &Errors{}
	cfg := &Config{File: file, Dir: dir, pos: map[string]map[string]int{}}
	root, ok := parseYAML(data, file, errs)
	if ok {
		d := &decoder{file: file, baseDir: dir, errs: errs, pos: map[string]int{}}
		cfg.pos[file] = d.pos
		d.decode(root, "", reflect_(cfg))
		for i := range cfg.Targets {
			cfg.Targets[i].Origin = Origin{File: file, Path: fmt.Sprintf("targets[%d]", i)}
		}
		for i := range cfg.Rules {
			cfg.Rules[i].Origin = Origin{File: file, Path: fmt.Sprintf("rules[%d]", i)}
		}
		cfg.loadRuleFiles(errs)
	}
	cfg.applyDefaults()
	cfg.validate(errs)
	return cfg, errs.Err()
}

// parseYAML parses one document and expands ${ENV} in every scalar.
func parseYAML(data []byte, file string, errs *Errors) (*yaml.Node, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line := 0
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &line)
		}
		errs.Add(file, line, "", "not valid YAML: "+strings.TrimPrefix(msg, "yaml: "))
		return nil, false
	}
	if root.Kind == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, true // empty file
	}
	expandEnv(&root, file, errs)
	return &root, true
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// envRE matches ${NAME} and ${NAME:-default}. A bare $NAME is left alone so
// that passwords and regexps containing "$" survive.
var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

func expandEnv(n *yaml.Node, file string, errs *Errors) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			sm := envRE.FindStringSubmatch(m)
			if v, ok := os.LookupEnv(sm[1]); ok {
				return v
			}
			if sm[2] != "" {
				return sm[3]
			}
			errs.Add(file, n.Line, "", fmt.Sprintf("environment variable %s is not set (write ${%s:-default} for a fallback)", sm[1], sm[1]))
			return ""
		})
		if n.Tag != "!!str" {
			n.Tag = "" // re-resolve: "${PORT}" may have become a number
		}
	}
	for _, c := range n.Content {
		expandEnv(c, file, errs)
	}
}

type ruleFile struct {
	Rules []Rule `yaml:"rules"`
}

func (c *Config) loadRuleFiles(errs *Errors) {
	for i, pattern := range c.RuleFiles {
		p := pattern
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.Dir, p)
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			errs.Add(c.File, c.Line(c.File, fmt.Sprintf("rule_files[%d]", i)), fmt.Sprintf("rule_files[%d]", i), err.Error())
			continue
		}
		if len(matches) == 0 {
			// Rules that silently never load are alarms nobody gets.
			what := "no file matches it"
			if !strings.ContainsAny(pattern, "*?[") {
				what = "no such file"
			}
			errs.Add(c.File, c.Line(c.File, fmt.Sprintf("rule_files[%d]", i)), fmt.Sprintf("rule_files[%d]", i),
				fmt.Sprintf("%s: %s (relative paths are taken from %s)", what, pattern, c.Dir))
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				errs.Add(m, 0, "", err.Error())
				continue
			}
			root, ok := parseYAML(data, m, errs)
			if !ok {
				continue
			}
			var rf ruleFile
			d := &decoder{file: m, baseDir: filepath.Dir(m), errs: errs, pos: map[string]int{}}
			c.pos[m] = d.pos
			d.decode(root, "", reflect_(&rf))
			for j := range rf.Rules {
				rf.Rules[j].Origin = Origin{File: m, Path: fmt.Sprintf("rules[%d]", j)}
			}
			c.Rules = append(c.Rules, rf.Rules...)
		}
	}
}

// Line returns the line of a field path in file, or 0.
func (c *Config) Line(file, path string) int {
	for p := path; p != ""; {
		if l, ok := c.pos[file][p]; ok {
			return l
		}
		// Fall back to the closest parent that has a line.
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// ErrAt builds an error for field (relative to the item at o).
func (c *Config) ErrAt(o Origin, field, msg string) FieldError {
	path := o.Path
	if field != "" {
		path = join(path, field)
	}
	return FieldError{File: o.File, Line: c.Line(o.File, path), Field: path, Msg: msg}
}

// Place gives the problems in err (from the code that owns a block, see
// Problem) their file, line and full field, under block at o. An error
// that is not a field problem is placed on block itself.
func (c *Config) Place(o Origin, block string, err error) []error {
	probs, rest := Problems(err)
	var out []error
	for _, p := range probs {
		out = append(out, c.ErrAt(o, joinField(block, p.Field), p.Msg))
	}
	for _, e := range rest {
		out = append(out, c.ErrAt(o, block, e.Error()))
	}
	return out
}

// Block returns a strict decoder for one block of the config file at path
// (its field names, for errors, start there): how a module decodes its own
// options (an SMS provider's twilio: block), with the same checks, *_file
// secrets and file:line errors as the rest.
func (c *Config) Block(node *yaml.Node, path string) func(out any) error {
	return func(out any) error {
		if node == nil {
			return nil
		}
		errs := &Errors{}
		d := &decoder{file: c.File, baseDir: c.Dir, errs: errs, pos: c.pos[c.File]}
		d.decode(node, path, reflect_(out))
		return errs.Err()
	}
}

// Decoder returns a strict decoder for a target's kind-specific options:
// collectors call it with a pointer to their own config struct.
func (c *Config) Decoder(t Target) func(out any) error {
	return func(out any) error {
		errs := &Errors{}
		if t.Options == nil {
			return nil
		}
		d := &decoder{file: t.Origin.File, baseDir: c.Dir, errs: errs, pos: c.pos[t.Origin.File]}
		d.decode(t.Options, t.Origin.Path, reflect_(out))
		return errs.Err()
	}
}

package snmp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Profiles are decoded the way the config is (internal/config's strict
// decoder): unknown keys are errors with a "did you mean", every problem
// of a file is reported at once, and each one names the file, the line and
// the field (metrics[3].walk), so that `vedetta profile check` is as
// helpful as `vedetta check`.

// profileProblems collects the problems of one profile file.
type profileProblems struct {
	file  string
	lines map[string]int // field path -> line of its key (or item)
	errs  config.Errors
	// decoded are the fields the decoder refused a value of: the checks
	// after decoding see their zero value, and say nothing more about them.
	decoded []string
	broken  bool // not a YAML mapping: nothing to check further
}

// add records a problem of field (a path: "metrics[2].labels.sensor").
func (pp *profileProblems) add(field, format string, args ...any) {
	for _, d := range pp.decoded {
		if d == field || strings.HasPrefix(d, field+".") || strings.HasPrefix(d, field+"[") {
			return // the decoder already said what is wrong there
		}
	}
	pp.errs.Add(pp.file, lineOf(pp.lines, field), field, fmt.Sprintf(format, args...))
}

func (pp *profileProblems) err() error {
	if len(pp.errs.List) == 0 {
		return nil
	}
	return pp.errs.Err()
}

// lineOf is the line of path, else of its closest parent with one.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// nodeLines maps every field path of a YAML tree to its line, with the
// decoder's path syntax (a.b[2].c).
func nodeLines(n *yaml.Node, path string, out map[string]int) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			nodeLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			if _, seen := out[k]; !seen {
				out[k] = n.Content[i].Line
			}
			nodeLines(n.Content[i+1], k, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			nodeLines(c, p, out)
		}
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// numericPath is where a profile holds numbers (not text: a label's
// value: 0x10 stays "0x10").
var numericPath = regexp.MustCompile(`^metrics\[\d+\]\.(sentinels\[\d+\]|autoscale\[\d+\]|mask|bit|scale|offset|round|map\..*|labels\.[^.]+\.(index_part|row\.index_part))$`)

// boolPath is where a profile holds a bool.
var boolPath = regexp.MustCompile(`^metrics\[\d+\]\.(nonzero|labels\.[^.]+\.(index|index_string|unsigned))$`)

// yaml11Scalars rewrites the YAML integers of numeric fields written in
// hex, octal or binary (sentinels: [0xFFFF], mask: 0x0F) as decimal, and
// yes/no/on/off in bool fields as true/false: YAML reads them so (and the
// profiles were decoded so before), the config's decoder does not.
func yaml11Scalars(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			yaml11Scalars(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			yaml11Scalars(n.Content[i+1], k)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			yaml11Scalars(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if boolPath.MatchString(path) {
			// yaml.v3 read YAML 1.1's yes/no/on/off into a bool field.
			switch strings.ToLower(n.Value) {
			case "yes", "y", "on":
				n.Value = "true"
			case "no", "n", "off":
				n.Value = "false"
			}
			return
		}
		if n.ShortTag() != "!!int" || !numericPath.MatchString(path) {
			return
		}
		v := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			n.Value = strconv.FormatInt(i, 10)
		} else if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			n.Value = strconv.FormatUint(u, 10)
		}
	}
}

// decodeProfile decodes data into p strictly. The problems it returns
// hold the decoder's errors; the checks of ParseProfile add theirs.
func decodeProfile(data []byte, file string, p *Profile) *profileProblems {
	pp := &profileProblems{file: file, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line := 0
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &line)
		}
		pp.errs.Add(file, line, "", "not valid YAML: "+msg)
		pp.broken = true
		return pp
	}
	if root.Kind == 0 {
		return pp // empty: the checks say what is missing
	}
	if len(root.Content) == 1 && root.Content[0].Kind != yaml.MappingNode {
		pp.errs.Add(file, root.Content[0].Line, "", "a profile is a mapping (name:, mib:, match:, metrics:)")
		pp.broken = true
		return pp
	}
	nodeLines(&root, "", pp.lines)
	yaml11Scalars(&root, "")
	// A Config that is only a file name: Block is the config's strict
	// decoder, with its checks and messages (and no ${ENV}: a profile is
	// data, the same on every host).
	err := (&config.Config{File: file}).Block(&root, "")(p)
	var probs []config.FieldError
	var rest []error
	if all, ok := err.(*config.Errors); ok {
		probs = all.List
	} else {
		probs, rest = config.Problems(err)
	}
	for _, e := range probs {
		pp.errs.List = append(pp.errs.List, e)
		if !strings.HasPrefix(e.Msg, "unknown field") && !strings.HasPrefix(e.Msg, "given twice") {
			pp.decoded = append(pp.decoded, e.Field)
		}
	}
	for _, e := range rest {
		pp.errs.Add(file, 0, "", e.Error())
	}
	return pp
}

// CheckResult is what `vedetta profile check` says about one file.
type CheckResult struct {
	File    string
	Profile *Profile // nil when the file could not be decoded
	Err     error    // every problem, one per line (file:line: field: what)
	// Notes are not errors: what the profile does that its author may not
	// mean (a metric with no plausibility range, an embedded profile
	// replaced).
	Notes []string
}

// CheckProfiles checks profile files as LoadProfiles would load them, and
// more: two files defining one profile, metric names with no plausibility
// range (they get the generic sentinels only), embedded profiles a file
// replaces.
func CheckProfiles(files []string) []CheckResult {
	out := make([]CheckResult, 0, len(files))
	seen := map[string]string{}
	var expanded []string
	for _, f := range files {
		// A folder is checked as profile_dirs loads it: its *.yaml, *.yml.
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			y, _ := filepath.Glob(filepath.Join(f, "*.yaml"))
			yml, _ := filepath.Glob(filepath.Join(f, "*.yml"))
			in := append(y, yml...)
			sort.Strings(in)
			if len(in) == 0 {
				out = append(out, CheckResult{File: f, Err: fmt.Errorf("%s: no profile (*.yaml, *.yml) in this folder", f)})
			}
			expanded = append(expanded, in...)
			continue
		}
		expanded = append(expanded, f)
	}
	for _, f := range expanded {
		r := CheckResult{File: f}
		data, err := os.ReadFile(f)
		if err != nil {
			r.Err = err
			out = append(out, r)
			continue
		}
		p, err := ParseProfile(data, f)
		r.Profile, r.Err = p, err
		if p != nil && p.Name != "" {
			if prev, dup := seen[p.Name]; dup {
				dupErr := fmt.Errorf("%s:%d: name: profile %q is also defined in %s", f, lineOfName(data), p.Name, prev)
				if r.Err == nil {
					r.Err = dupErr
				} else {
					r.Err = fmt.Errorf("%w\n%w", r.Err, dupErr)
				}
			}
			seen[p.Name] = f
			if EmbeddedProfiles().ByName(p.Name) != nil {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: replaces the embedded profile %s", f, p.Name))
			}
			r.Notes = append(r.Notes, rangeNotes(f, data, p)...)
		}
		out = append(out, r)
	}
	return out
}

func lineOfName(data []byte) int {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("name:")) {
			return i + 1
		}
	}
	return 0
}

// rangeNotes names the metrics plausibility.yaml has no range for.
func rangeNotes(file string, data []byte, p *Profile) []string {
	var root yaml.Node
	lines := map[string]int{}
	if yaml.Unmarshal(data, &root) == nil {
		nodeLines(&root, "", lines)
	}
	var notes []string
	done := map[string]bool{}
	for i, m := range p.Metrics {
		if m.Name == "" || done[m.Name] {
			continue
		}
		done[m.Name] = true
		if _, ok := embeddedPlausibility().For(m.Name); !ok && m.Map == nil && m.Bit == nil && m.Mask == 0 && !m.NonZero {
			field := fmt.Sprintf("metrics[%d].name", i)
			notes = append(notes, fmt.Sprintf("%s:%d: %s: %s has no plausibility range (plausibility.yaml): only the generic sentinels apply; "+
				"name it after a normalized metric or with a known suffix (_celsius, _percent, _volts, _total...)", file, lineOf(lines, field), field, m.Name))
		}
	}
	sort.Strings(notes)
	return notes
}

// SplitProfileErrors splits an error of LoadProfiles into the problems of
// profile files, each one error that already names its file and line, and
// the others (a folder that is not there), which the caller places on the
// config key that named the folders.
func SplitProfileErrors(err error) (inFiles, other []error) {
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case *config.Errors:
			for _, fe := range x.List {
				inFiles = append(inFiles, fe)
			}
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		default:
			other = append(other, e)
		}
	}
	walk(err)
	return inFiles, other
}

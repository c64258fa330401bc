package config

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/internal/editdist"
)

// Why a decoder of our own instead of yaml.Node.Decode or viper.Unmarshal:
// neither can both reject unknown keys and say on which line and under which
// field a problem sits. A sysadmin fixing a config at 3 a.m. needs
// "vedetta.yaml:14: targets[2].interval: ..." rather than "unmarshal error".

// Secret is a string that never prints itself. Every Secret field named X also
// accepts X_file: the secret is then read from that file (relative paths
// against the config file's folder), so secrets stay out of the YAML.
type Secret string

// Reveal returns the secret for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// String redacts, so fmt and slog never leak the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON redacts in API output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Unmarshaler lets a type decode itself from a node (schedules, expressions).
// Returned errors are reported at the node's line and field.
type Unmarshaler interface {
	UnmarshalYAML(node *yaml.Node) error
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	secretType   = reflect.TypeOf(Secret(""))
	nodeType     = reflect.TypeOf(yaml.Node{})
	unmarshalerT = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
)

// decoder walks a yaml.Node tree and a Go value side by side.
type decoder struct {
	file    string
	baseDir string
	errs    *Errors
	pos     map[string]int // field path -> line, for errors found after decoding
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs.Add(d.file, line, path, fmt.Sprintf(format, args...))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n == nil {
		return
	}
	if d.pos != nil {
		if _, ok := d.pos[path]; !ok {
			d.pos[path] = n.Line
		}
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) > 0 {
			d.decode(n.Content[0], path, v)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, path, v)
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerT) {
		if isNull(n) {
			return
		}
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	if isNull(n) {
		return // keep the default
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			panic("config: only string-keyed maps are supported")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(n.Content[i+1], join(path, k), ev)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(n, path, v)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a single value, got %s", describe(n))
		return
	}
	s := n.Value
	switch {
	case v.Type() == durationType:
		dur, err := ParseDuration(s)
		if err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	case v.Kind() == reflect.String:
		if n.Tag != "!!str" && n.Tag != "" && n.Style == 0 && (n.Tag == "!!map" || n.Tag == "!!seq") {
			d.fail(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(s)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.fail(n, path, "expected true or false, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "expected a whole number, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "expected a non-negative whole number, got %q", s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if err != nil || math.IsNaN(f) {
			d.fail(n, path, "expected a number, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: unsupported field type %s at %s", v.Type(), path))
	}
}

// fieldInfo maps YAML keys to struct fields, once per type.
type fieldInfo struct {
	index  []int
	secret bool
}

func structFields(t reflect.Type) (fields map[string]fieldInfo, remain []int) {
	fields = map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "remain" {
			remain = f.Index
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = fieldInfo{index: f.Index, secret: f.Type == secretType}
	}
	return fields, remain
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields, remain := structFields(v.Type())
	var rest *yaml.Node
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		kp := join(path, key)
		if prev, dup := seen[key]; dup {
			d.fail(kn, kp, "given twice (first on line %d)", prev.Line)
			continue
		}
		seen[key] = kn
		if fi, ok := fields[key]; ok {
			if d.pos != nil {
				d.pos[kp] = kn.Line
			}
			d.decode(vn, kp, v.FieldByIndex(fi.index))
			continue
		}
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if fi, ok := fields[base]; ok && fi.secret {
				if _, both := seen[base]; both || hasKey(n, base) {
					d.fail(kn, kp, "give either %s or %s, not both", base, key)
					continue
				}
				if d.pos != nil {
					d.pos[join(path, base)] = kn.Line
				}
				d.readSecretFile(vn, kp, v.FieldByIndex(fi.index))
				continue
			}
		}
		if remain != nil {
			if rest == nil {
				rest = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
			}
			rest.Content = append(rest.Content, kn, vn)
			continue
		}
		d.fail(kn, kp, "unknown field %q%s", key, suggest(key, fields))
	}
	if remain != nil && rest != nil {
		v.FieldByIndex(remain).Set(reflect.ValueOf(rest))
	}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) readSecretFile(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		d.fail(n, path, "expected a file name")
		return
	}
	name := n.Value
	if !filepath.IsAbs(name) {
		name = filepath.Join(d.baseDir, name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		// The error names the file but never its content.
		d.fail(n, path, "cannot read secret: %v", err)
		return
	}
	v.SetString(strings.TrimRight(string(b), "\r\n"))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// suggest names the closest known key, for typos like "intervall"; of
// two as close, the first in alphabetical order, so that the same file
// always gets the same advice ("rutes": routes, not rules one run in two).
func suggest(key string, fields map[string]fieldInfo) string {
	best, bestD := "", 3
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if dd := editdist.Distance(key, k); dd < bestD {
			best, bestD = k, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// MaxDuration is the longest duration a config or the API may give. No
// interval, timeout, for: or silence means more, and the arithmetic done
// with them (a default timeout of interval×4/5, backoffs) must not
// overflow.
const MaxDuration = 10 * 365 * 24 * time.Hour

// ParseDuration accepts Go durations plus d (days) and w (weeks), which
// backup and certificate rules need ("7d" reads better than "168h"), up to
// MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	tooLong := func() error { return fmt.Errorf("duration %q is longer than 10 years (3650d)", s) }
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || (rest[i] >= '0' && rest[i] <= '9')) {
			i++
		}
		j := i
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h, 7d)", s)
		}
		num, unit := rest[:i], rest[i:j]
		var d time.Duration
		switch unit {
		case "d", "w":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			mult := 24 * time.Hour
			if unit == "w" {
				mult *= 7
			}
			if f*float64(mult) > float64(MaxDuration) {
				return 0, tooLong() // before the conversion, which would wrap
			}
			d = time.Duration(f * float64(mult))
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h, 7d)", s)
			}
		}
		// total and d at most MaxDuration each: their sum cannot wrap.
		if d > MaxDuration || total+d > MaxDuration {
			return 0, tooLong()
		}
		total += d
		rest = rest[j:]
	}
	if total < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return total, nil
}

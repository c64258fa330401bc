package snmp

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Profile maps one MIB (or one vendor's use of it) to normalized metrics.
// Profiles are data: the embedded ones live in profiles/*.yaml, users add
// theirs with profile_dirs (a user profile with the name of an embedded one
// replaces it).
type Profile struct {
	Name        string `yaml:"name"`
	MIB         string `yaml:"mib"`         // source MIB(s), e.g. "UPS-MIB (RFC 1628)"
	Description string `yaml:"description"` // what it emits
	Class       string `yaml:"class"`       // ups, ats, generator, pdu, environment, switch, host (documentation)
	Match       Match  `yaml:"match"`
	// Overrides names profiles this one knows better than: when both
	// match, every metric name this profile emitted in a poll is dropped
	// from those (a vendor MIB that says what RFC 1628 says, with tenths),
	// and their other metrics are kept.
	Overrides []string `yaml:"overrides"`
	Metrics   []Metric `yaml:"metrics"`

	Source string `yaml:"-"` // "embedded" or the file it came from
}

// Match says when `profiles: [auto]` picks a profile: when sysObjectID
// starts with one of SysObjectID, or when one of Subtrees answers a
// GETNEXT with an object inside it (devices with a missing or wrong
// sysObjectID are common).
type Match struct {
	SysObjectID []string `yaml:"sysobjectid"`
	Subtrees    []string `yaml:"subtrees"`
}

// Metric is one normalized metric. Exactly one of OID (a scalar, fetched
// with GET) and Walk (a table column, walked; the rest of each OID is the
// row index) is set.
type Metric struct {
	Name   string               `yaml:"name"`
	Help   string               `yaml:"help"`
	OID    string               `yaml:"oid"`
	Walk   string               `yaml:"walk"`
	Labels map[string]LabelFrom `yaml:"labels"`
	// Where keeps only the rows whose other columns (or scalars) have given
	// values; IndexMatch keeps the rows whose index matches a regexp.
	Where      []Where `yaml:"where"`
	IndexMatch string  `yaml:"index_match"`
	indexRE    *regexp.Regexp

	// Value pipeline: raw -> sentinels -> bit -> map -> divide -> scale/offset.
	Sentinels []float64          `yaml:"sentinels"` // raw values that mean "unknown": no sample
	Bit       *int               `yaml:"bit"`       // take bit N (0 = least significant) of an integer
	Mask      uint64             `yaml:"mask"`      // keep these bits of an integer (then map)
	Map       map[string]float64 `yaml:"map"`       // enum or string -> value; anything else: no sample
	// DivideBy is a column (same index) or scalar OID the value is divided by (ratios).
	DivideBy string  `yaml:"divide_by"`
	Scale    float64 `yaml:"scale"` // multiply (0.1 for tenths, 60 for minutes -> seconds)
	Offset   float64 `yaml:"offset"`
	Round    *int    `yaml:"round"` // decimals kept (after unit conversions)
	// ENTITY-SENSOR-MIB style scaling: value × 1000^(scale-9) / 10^precision,
	// read from these columns of the same row.
	EntityScaleColumn string `yaml:"entity_scale_column"`
	PrecisionColumn   string `yaml:"precision_column"`
	// Aggregate turns the rows of a walk into one sample: count (rows with
	// a value), any (1 if count > 0), sum, max, min.
	Aggregate string `yaml:"aggregate"`

	// Autoscale lists factors to try, in order of preference, when the
	// device may report the metric at another scale than the MIB says
	// (upsInputVoltage in tenths): the first value that is plausible at
	// exactly one factor (plausibility.yaml) chooses it for the device,
	// once, and it is logged with the raw value (forgotten when re-detection
	// finds another device: another sysObjectID or profile set).
	Autoscale []float64 `yaml:"autoscale"`
	// LineCount is a scalar holding the number of lines (phases) the
	// device has (upsInputNumLines): rows whose index starts with a
	// higher number are phantoms and dropped.
	LineCount string `yaml:"line_count"`
	// Distinct is a column (same index): of rows with the same non-empty
	// value in it, only the first is kept (bind mounts of one device).
	Distinct string `yaml:"distinct"`
	// NonZero turns the value into 1 when it is not 0, else 0 (after
	// sentinels): IEEE8023-LAG-MIB dot3adAggPortAttachedAggID is the
	// aggregator's ifIndex, 0 when the port is attached to none. An enum:
	// the generic sentinels do not apply (plausible.go).
	NonZero bool `yaml:"nonzero"`

	key string // profile/metric index: what a chosen autoscale factor is remembered under
}

// LabelFrom says where a label's value comes from: the whole row index
// (index: true), one part of it (index_part: N, 1-based), the row index
// read as a length-prefixed string (index_string: true), another column of
// the same row or a scalar (column: OID, or a list tried in order until one
// is non-empty), or a constant (value). Map renames values.
type LabelFrom struct {
	Index       bool              `yaml:"index"`
	IndexPart   int               `yaml:"index_part"`
	IndexString bool              `yaml:"index_string"`
	Column      oidList           `yaml:"column"`
	Value       string            `yaml:"value"`
	Map         map[string]string `yaml:"map"`
	Trim        string            `yaml:"trim"`    // characters trimmed from both ends
	Default     *string           `yaml:"default"` // when every column is empty (else: the row index)
	// Unsigned reads the value as an unsigned 32-bit number: agents that
	// send a 4-byte AS number in BGP4-MIB's Integer32 bgpPeerRemoteAs say
	// -94967296 for AS 4200000000 (labels.go).
	Unsigned bool `yaml:"unsigned"`
	// Row reads Column at another row than the sample's: one part of the
	// index (VRRP-MIB rows are ifIndex.vrid: ifName at the ifIndex), or
	// the value of another column of the row (IEEE8023-LAG-MIB names the
	// aggregator a port is in by its ifIndex). See labels.go.
	Row *RowFrom `yaml:"row"`
}

// Where filters rows: the column's value (as text) must be one of In, or
// not one of NotIn. With OID instead of Column, a scalar is tested (a
// device-wide unit setting, say).
type Where struct {
	Column string   `yaml:"column"`
	OID    string   `yaml:"oid"`
	In     []string `yaml:"in"`
	NotIn  []string `yaml:"not_in"`
	// IndexPrefix reads Column at row IndexPrefix.<index>: another table
	// indexed with one more leading part (PowerNet mem* tables are
	// module.sensor where ems* tables are sensor).
	IndexPrefix string `yaml:"index_prefix"`
	Match       string `yaml:"match"`     // regexp the text must match
	NotMatch    string `yaml:"not_match"` // regexp the text must not match
	match       *regexp.Regexp
	notMatch    *regexp.Regexp
}

// oidList accepts one OID or a list of them.
type oidList []string

func (l *oidList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = oidList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

//go:embed profiles/*.yaml
var embedded embed.FS

// ProfileSet is one immutable set of profiles: the embedded ones plus those
// of a config's profile_dirs. It is a value, built whole and checked before
// use: each config generation builds its own and hands it to the SNMP
// collectors it creates, so a reload that is refused changes nothing that
// running collectors see (snmp_exporter's load-then-swap).
type ProfileSet struct {
	list   []*Profile // sorted by name
	byName map[string]*Profile
	help   map[string]string // metric name -> the first help: given for it (prom.go)
}

func newProfileSet(ps []*Profile) *ProfileSet {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	s := &ProfileSet{list: ps, byName: make(map[string]*Profile, len(ps))}
	for _, p := range ps {
		s.byName[p.Name] = p
	}
	s.help = helpIndex(ps)
	return s
}

// embeddedSet is parsed once; the embedded profiles are tested, so an error
// here is a broken build.
var embeddedSet = sync.OnceValue(func() *ProfileSet {
	ps, err := loadFS(embedded, "profiles", "embedded")
	if err != nil {
		panic("snmp: embedded profiles are broken: " + err.Error())
	}
	return newProfileSet(ps)
})

// EmbeddedProfiles is the set of the profiles compiled into the binary.
func EmbeddedProfiles() *ProfileSet { return embeddedSet() }

// LoadProfiles returns the embedded profiles plus the profiles (*.yaml,
// *.yml) of each folder; a profile with the name of an embedded one
// replaces it. Every problem of every file is reported. With an error, the
// set holds what could be loaded (so `vedetta check` can go on checking
// the targets), and must not be run.
func LoadProfiles(dirs []string) (*ProfileSet, error) {
	base := EmbeddedProfiles()
	ps := append([]*Profile(nil), base.list...)
	byName := make(map[string]int, len(ps))
	for i, p := range ps {
		byName[p.Name] = i
	}
	var errs []error
	for _, d := range dirs {
		// A folder that is not there is a typo or a missing package, not
		// "no profiles": the devices it was meant for would go unwatched.
		if fi, err := os.Stat(d); err != nil {
			errs = append(errs, fmt.Errorf("profile folder: %w", err))
			continue
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("profile folder %s is not a folder", d))
			continue
		}
		user, err := loadFS(os.DirFS(d), ".", d)
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range user {
			if i, ok := byName[p.Name]; ok {
				ps[i] = p
			} else {
				byName[p.Name] = len(ps)
				ps = append(ps, p)
			}
		}
	}
	return newProfileSet(ps), errors.Join(errs...)
}

// ConfigProfiles is LoadProfiles of cfg.ProfileDirs (relative paths against
// the config file's folder).
func ConfigProfiles(cfg *config.Config) (*ProfileSet, error) {
	dirs := make([]string, 0, len(cfg.ProfileDirs))
	for _, d := range cfg.ProfileDirs {
		if !filepath.IsAbs(d) {
			d = filepath.Join(cfg.Dir, d)
		}
		dirs = append(dirs, d)
	}
	return LoadProfiles(dirs)
}

// All returns every profile of the set, sorted by name.
func (s *ProfileSet) All() []*Profile { return append([]*Profile(nil), s.list...) }

// ByName finds a profile, nil if the set has none of that name.
func (s *ProfileSet) ByName(name string) *Profile { return s.byName[name] }

// Names lists the profile names, sorted.
func (s *ProfileSet) Names() []string {
	n := make([]string, len(s.list))
	for i, p := range s.list {
		n[i] = p.Name
	}
	return n
}

func loadFS(fsys fs.FS, dir, source string) ([]*Profile, error) {
	files, err := fs.Glob(fsys, dir+"/*.yaml")
	if err != nil {
		return nil, err
	}
	more, _ := fs.Glob(fsys, dir+"/*.yml")
	files = append(files, more...)
	sort.Strings(files)
	var out []*Profile
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := f
		if source != "embedded" {
			name = filepath.Join(source, filepath.Base(f))
		}
		p, err := ParseProfile(data, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: profile %q is also defined in %s", name, p.Name, prev))
			continue
		}
		seen[p.Name] = name
		if source == "embedded" {
			p.Source = "embedded"
		} else {
			p.Source = name
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

var (
	oidRE        = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	profNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
)

// ParseProfile decodes and checks one profile file strictly (unknown keys
// are errors, with a "did you mean"). Every problem is reported, each with
// file, line and field (profilecheck.go).
func ParseProfile(data []byte, file string) (*Profile, error) {
	var p Profile
	pp := decodeProfile(data, file, &p)
	if pp.broken {
		return nil, pp.err()
	}
	bad := pp.add
	if !profNameRE.MatchString(p.Name) {
		bad("name", "%q: use lower-case letters, digits, - _ .", p.Name)
	}
	if p.MIB == "" {
		bad("mib", "say which MIB the profile reads (mib:)")
	} else if strings.Contains(p.MIB, draftMark) {
		bad("mib", "still a draft (%s): say which MIB the profile reads", draftMark)
	}
	if len(p.Match.SysObjectID) == 0 && len(p.Match.Subtrees) == 0 {
		bad("match", "needs sysobjectid or subtrees")
	}
	normOIDs := func(what string, l []string) {
		for i, o := range l {
			l[i] = trimOID(o)
			if !oidRE.MatchString(l[i]) {
				bad(fmt.Sprintf("%s[%d]", what, i), "%q is not a numeric OID", o)
			}
		}
	}
	normOIDs("match.sysobjectid", p.Match.SysObjectID)
	normOIDs("match.subtrees", p.Match.Subtrees)
	if len(p.Metrics) == 0 {
		bad("metrics", "no metrics")
	}
	sources := map[string]int{} // name and object read -> the first metric reading it
	for i := range p.Metrics {
		m := &p.Metrics[i]
		mp := fmt.Sprintf("metrics[%d]", i)
		if strings.Contains(m.Name, draftMark) {
			bad(mp+".name", "%q is still a draft name: name it after a normalized metric (README: Normalized metrics)", m.Name)
		} else if !metricNameRE.MatchString(m.Name) {
			bad(mp+".name", "bad metric name %q (letters, digits, _ and :, not starting with a digit)", m.Name)
		}
		if (m.OID == "") == (m.Walk == "") {
			bad(mp, "give exactly one of oid (scalar) and walk (table column)")
		}
		one := func(what string, s *string) {
			if *s == "" {
				return
			}
			*s = trimOID(*s)
			if !oidRE.MatchString(*s) {
				bad(mp+"."+what, "%q is not a numeric OID", *s)
			}
		}
		one("oid", &m.OID)
		one("walk", &m.Walk)
		one("divide_by", &m.DivideBy)
		one("entity_scale_column", &m.EntityScaleColumn)
		one("precision_column", &m.PrecisionColumn)
		one("line_count", &m.LineCount)
		one("distinct", &m.Distinct)
		m.key = fmt.Sprintf("%s/%d", p.Name, i)
		for _, f := range m.Autoscale {
			if !(f > 0) || math.IsInf(f, 0) {
				bad(mp+".autoscale", "factors must be positive numbers, got %v", f)
			}
		}
		if len(m.Autoscale) > 0 && (m.Map != nil || m.Bit != nil || m.Mask != 0) {
			bad(mp+".autoscale", "autoscale makes no sense with map, bit or mask")
		}
		if m.LineCount != "" && m.Walk == "" {
			bad(mp+".line_count", "line_count and distinct need walk")
		}
		if m.Distinct != "" && m.Walk == "" {
			bad(mp+".distinct", "line_count and distinct need walk")
		}
		if m.Distinct != "" && m.Aggregate != "" {
			bad(mp+".distinct", "distinct and aggregate cannot be combined")
		}
		if m.IndexMatch != "" {
			re, err := regexp.Compile(m.IndexMatch)
			if err != nil {
				bad(mp+".index_match", "%v", err)
			}
			m.indexRE = re
		}
		for j := range m.Where {
			wp := fmt.Sprintf("%s.where[%d]", mp, j)
			one(fmt.Sprintf("where[%d].column", j), &m.Where[j].Column)
			one(fmt.Sprintf("where[%d].oid", j), &m.Where[j].OID)
			if (m.Where[j].Column == "") == (m.Where[j].OID == "") {
				bad(wp, "needs one of column and oid")
			}
			w := &m.Where[j]
			if len(w.In) == 0 && len(w.NotIn) == 0 && w.Match == "" && w.NotMatch == "" {
				bad(wp, "needs in, not_in, match or not_match")
			}
			var err error
			if w.Match != "" {
				if w.match, err = regexp.Compile(w.Match); err != nil {
					bad(wp+".match", "%v", err)
				}
			}
			if w.NotMatch != "" {
				if w.notMatch, err = regexp.Compile(w.NotMatch); err != nil {
					bad(wp+".not_match", "%v", err)
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(m.Labels)) {
			lf := m.Labels[name]
			lp := mp + ".labels." + name
			if !labelNameRE.MatchString(name) || name == "target" || name == "class" {
				bad(lp, "%q cannot be a label name", name)
			}
			n := 0
			for _, set := range []bool{lf.Index, lf.IndexPart > 0, lf.IndexString, len(lf.Column) > 0, lf.Value != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(lp, "label %s: give exactly one of index, index_part, index_string, column, value", name)
			}
			if m.OID != "" && (lf.Index || lf.IndexPart > 0 || lf.IndexString) {
				bad(lp, "label %s: a scalar has no row index", name)
			}
			for k := range lf.Column {
				one(fmt.Sprintf("labels.%s.column", name), &lf.Column[k])
			}
			for _, e := range checkLabelExtras(m, &lf) {
				bad(lp, "label %s: %s", name, e)
			}
			m.Labels[name] = lf
		}
		if m.NonZero && (m.Map != nil || m.Bit != nil || m.Mask != 0 || len(m.Autoscale) > 0) {
			bad(mp+".nonzero", "nonzero makes no sense with map, bit, mask or autoscale")
		}
		switch m.Aggregate {
		case "", "count", "any", "sum", "max", "min":
		default:
			bad(mp+".aggregate", "want count, any, sum, max or min, got %q", m.Aggregate)
		}
		if m.Aggregate != "" && m.Walk == "" {
			bad(mp+".aggregate", "aggregate needs walk")
		}
		// Two metrics of one name reading the same object the same way
		// (same bit, mask, aggregate and labels), unfiltered, are a
		// copy-paste slip: the second one's series would be dropped as a
		// duplicate of the first, whatever it was meant to be.
		if m.Name != "" && len(m.Where) == 0 && m.IndexMatch == "" && m.Distinct == "" && m.LineCount == "" && m.OID+m.Walk != "" {
			bit := -1
			if m.Bit != nil {
				bit = *m.Bit
			}
			src := fmt.Sprintf("%s %s%s %s %d %d", m.Name, m.OID, m.Walk, m.Aggregate, bit, m.Mask)
			for _, n := range slices.Sorted(maps.Keys(m.Labels)) {
				src += fmt.Sprintf(" %s=%+v", n, m.Labels[n])
			}
			if prev, dup := sources[src]; dup {
				bad(mp, "duplicate metric: %s reads %s%s as metrics[%d] does (line %d)", m.Name, m.OID, m.Walk, prev, lineOf(pp.lines, fmt.Sprintf("metrics[%d]", prev)))
			} else {
				sources[src] = i
			}
		}
		if m.Scale == 0 {
			m.Scale = 1
		}
	}
	if err := pp.err(); err != nil {
		return &p, err
	}
	return &p, nil
}

// draftMark is what `vedetta profile draft` leaves for a person to fill
// in: a profile that still holds it is refused.
const draftMark = "FIXME"

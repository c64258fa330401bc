package model

import (
	"sort"
	"strings"
	"time"
)

// Label is one name=value pair of a sample.
type Label struct {
	Name, Value string
}

// Labels is kept sorted by name so that two equal label sets have the same
// key without re-sorting on every lookup.
type Labels []Label

// Get returns the value of label name, or "".
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Lookup is Get that tells an empty value from a missing label.
func (ls Labels) Lookup(name string) (string, bool) {
	for _, l := range ls {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

// Map returns the labels as a map (for templates and JSON).
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// String renders the set the Prometheus way: {a="1",b="2"}.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// FromMap builds a sorted label set.
func FromMap(m map[string]string) Labels {
	ls := make(Labels, 0, len(m))
	for k, v := range m {
		ls = append(ls, Label{k, v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// L builds a sorted label set from name, value pairs: L("device", "eth0").
func L(pairs ...string) Labels {
	ls := make(Labels, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ls = append(ls, Label{pairs[i], pairs[i+1]})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// With returns a copy of ls with name set to value (replacing any existing
// value), still sorted.
func (ls Labels) With(name, value string) Labels {
	out := make(Labels, 0, len(ls)+1)
	done := false
	for _, l := range ls {
		switch {
		case l.Name == name:
			out = append(out, Label{name, value})
			done = true
		case !done && l.Name > name:
			out = append(out, Label{name, value}, l)
			done = true
		default:
			out = append(out, l)
		}
	}
	if !done {
		out = append(out, Label{name, value})
	}
	return out
}

// Merge returns base with extra's labels set (extra wins on equal names),
// both sorted; one allocation, for the per-sample hot path.
func Merge(base, extra Labels) Labels {
	out := make(Labels, 0, len(base)+len(extra))
	i, j := 0, 0
	for i < len(base) || j < len(extra) {
		switch {
		case j == len(extra) || i < len(base) && base[i].Name < extra[j].Name:
			out = append(out, base[i])
			i++
		case i == len(base) || extra[j].Name < base[i].Name:
			out = append(out, extra[j])
			j++
		default:
			out = append(out, extra[j])
			i++
			j++
		}
	}
	return out
}

// AppendKey appends the series key of name and ls to buf (see SeriesKey),
// so that a map lookup can use string(buf) without allocating.
func AppendKey(buf []byte, name string, ls Labels) []byte {
	buf = append(buf, name...)
	for _, l := range ls {
		buf = append(buf, 0xfe)
		buf = append(buf, l.Name...)
		buf = append(buf, 0xff)
		buf = append(buf, l.Value...)
	}
	return buf
}

// Sample is one observation. Name follows Prometheus conventions, with the
// unit as suffix (_celsius, _bytes_total, _ratio, _seconds, _volts).
type Sample struct {
	Name   string
	Labels Labels
	Value  float64
	Time   time.Time
}

// Key identifies the series a sample belongs to.
func (s Sample) Key() string { return SeriesKey(s.Name, s.Labels) }

// SeriesKey is name + labels in a form that is cheap to compare.
func SeriesKey(name string, ls Labels) string {
	return string(AppendKey(nil, name, ls))
}

// Batch is the result of one collection round of one target, including the
// scheduler's own samples about it (vedetta_target_up...).
type Batch struct {
	Target   string
	Samples  []Sample
	Err      error
	Start    time.Time
	Duration time.Duration
}

package rules

import (
	"slices"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// Join planning: binding the series of a multi-metric rule on the labels
// they share.

// joiner finds, for a binding, the candidate series that agree with it on
// the labels they share. Candidates are indexed by the values of those
// labels, so joining two metrics of a 48-port switch costs 96 lookups, not
// 48×48 comparisons.
type joiner struct {
	cands []*series
	names []string // the shared label names the index is built on
	index map[string][]*series
	scan  bool // candidates do not all carry the shared names: compare one by one
}

func (j *joiner) matches(b map[string]*series) []*series {
	if len(j.cands) == 0 {
		return nil
	}
	names := sharedNames(b, j.cands[0].labels)
	if j.index == nil && !j.scan || !slices.Equal(names, j.names) {
		j.build(names)
	}
	if j.scan {
		var out []*series
		for _, s := range j.cands {
			if compatibleWith(b, s.labels) {
				out = append(out, s)
			}
		}
		return out
	}
	var key strings.Builder
	for _, n := range names {
		for _, s := range b {
			if v, ok := s.labels.Lookup(n); ok {
				key.WriteString(v)
				break
			}
		}
		key.WriteByte(0xff)
	}
	// The index holds the names of the first candidate; a candidate with
	// more labels in common with b is checked in full.
	var out []*series
	for _, s := range j.index[key.String()] {
		if compatibleWith(b, s.labels) {
			out = append(out, s)
		}
	}
	return out
}

func (j *joiner) build(names []string) {
	j.names, j.index, j.scan = names, map[string][]*series{}, false
	for _, c := range j.cands {
		var key strings.Builder
		for _, n := range names {
			v, ok := c.labels.Lookup(n)
			if !ok {
				j.scan, j.index = true, nil
				return
			}
			key.WriteString(v)
			key.WriteByte(0xff)
		}
		k := key.String()
		j.index[k] = append(j.index[k], c)
	}
}

// sharedNames: the label names of ls that some bound series also has.
func sharedNames(b map[string]*series, ls model.Labels) []string {
	var out []string
	for _, l := range ls {
		for _, s := range b {
			if _, ok := s.labels.Lookup(l.Name); ok {
				out = append(out, l.Name)
				break
			}
		}
	}
	return out
}

// compatibleWith: ls agrees with every bound series on the labels they share.
func compatibleWith(b map[string]*series, ls model.Labels) bool {
	for _, s := range b {
		i, j := 0, 0
		for i < len(s.labels) && j < len(ls) {
			switch {
			case s.labels[i].Name < ls[j].Name:
				i++
			case s.labels[i].Name > ls[j].Name:
				j++
			default:
				if s.labels[i].Value != ls[j].Value {
					return false
				}
				i++
				j++
			}
		}
	}
	return true
}

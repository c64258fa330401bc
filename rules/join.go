package rules

import (
	"hash/maphash"
	"slices"

	"github.com/vedetta-dc/vedetta/model"
)

// Join planning: binding the series of a multi-metric rule on the labels
// they share.

// joiner finds, for a binding, the candidate series that agree with it on
// the labels they share. Candidates are indexed by the values of those
// labels, so joining two metrics of a 48-port switch costs 96 lookups, not
// 48×48 comparisons. A joiner is reused from one evaluation to the next
// (reset): its index, chains and buffers stay, and the steady state
// allocates nothing.
type joiner struct {
	cands []*series
	names []string // the shared label names the index is built on
	built bool
	scan  bool // candidates do not all carry the shared names: compare one by one
	// index: the hash of a candidate's values of names -> its first
	// candidate (1-based), chained through next in the candidates' order;
	// a hash shared by other values only adds candidates that the full
	// comparison then turns down.
	index map[uint64]int32
	next  []int32
	tmp   []string  // sharedNames' result, before it is compared with names
	out   []*series // matches' result, valid until the next call
	seed  maphash.Seed
}

// reset makes j join on new candidates (its own buffer, which the caller
// fills).
func (j *joiner) reset() {
	j.cands, j.built = j.cands[:0], false
}

// matches takes a binding as a map (the aggregation rules' members).
func (j *joiner) matches(b map[string]*series) []*series {
	row := make([]*series, 0, len(b))
	for _, s := range b {
		row = append(row, s)
	}
	return j.matchRow(row)
}

// matchRow returns the candidates compatible with every series of row, in
// the candidates' order.
func (j *joiner) matchRow(row []*series) []*series {
	j.out = j.out[:0]
	if len(j.cands) == 0 {
		return nil
	}
	j.tmp = sharedNames(j.tmp[:0], row, j.cands[0].labels)
	if !j.built || !slices.Equal(j.tmp, j.names) {
		j.build()
	}
	if j.scan {
		for _, s := range j.cands {
			if compatibleRow(row, s.labels) {
				j.out = append(j.out, s)
			}
		}
		return j.out
	}
	var h maphash.Hash
	h.SetSeed(j.seed)
	for _, n := range j.names {
		for _, s := range row {
			if v, ok := s.labels.Lookup(n); ok {
				h.WriteString(v)
				break
			}
		}
		h.WriteByte(0xff)
	}
	// The index holds the names of the first candidate; a candidate with
	// more labels in common with the row is checked in full.
	for c := j.index[h.Sum64()]; c != 0; c = j.next[c-1] {
		if s := j.cands[c-1]; compatibleRow(row, s.labels) {
			j.out = append(j.out, s)
		}
	}
	return j.out
}

// build indexes the candidates on the names in j.tmp.
func (j *joiner) build() {
	j.names = append(j.names[:0], j.tmp...)
	j.built, j.scan = true, false
	if j.index == nil {
		j.index, j.seed = map[uint64]int32{}, maphash.MakeSeed()
	}
	clear(j.index)
	j.next = slices.Grow(j.next[:0], len(j.cands))[:len(j.cands)]
	// Backwards, each put in front: every chain is in the candidates' order.
	for i := len(j.cands) - 1; i >= 0; i-- {
		var h maphash.Hash
		h.SetSeed(j.seed)
		for _, n := range j.names {
			v, ok := j.cands[i].labels.Lookup(n)
			if !ok {
				j.scan = true
				return
			}
			h.WriteString(v)
			h.WriteByte(0xff)
		}
		k := h.Sum64()
		j.next[i] = j.index[k]
		j.index[k] = int32(i + 1)
	}
}

// sharedNames appends to out the label names of ls that some series of
// row also has.
func sharedNames(out []string, row []*series, ls model.Labels) []string {
	for _, l := range ls {
		for _, s := range row {
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
		if !compatible(s.labels, ls) {
			return false
		}
	}
	return true
}

func compatibleRow(row []*series, ls model.Labels) bool {
	for _, s := range row {
		if !compatible(s.labels, ls) {
			return false
		}
	}
	return true
}

// compatible: a and b agree on the labels they share (both sorted).
func compatible(a, b model.Labels) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Name < b[j].Name:
			i++
		case a[i].Name > b[j].Name:
			j++
		default:
			if a[i].Value != b[j].Value {
				return false
			}
			i++
			j++
		}
	}
	return true
}

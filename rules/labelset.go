package rules

import (
	"hash/maphash"
	"unsafe"

	"github.com/vedetta-dc/vedetta/model"
)

// Interned label sets: one copy of each distinct label set of a target,
// shared by every series that carries it (the nine metrics of a switch
// port, the four of a disk), with what rules derive from it made once for
// all of them. A collector hands over a fresh label slice per sample and
// per poll; the store keeps none of them beyond the first.

// labelSet is one interned label set.
type labelSet struct {
	labels model.Labels
	hash   uint64
	next   *labelSet // the next set with the same hash (a collision)
	lmap   map[string]string
	// series are the set's series, one per metric (a handful: the nine of
	// a port), found by a linear scan of their names: cheaper than a map
	// from metric and set to series, at ~54 bytes an entry. They are also
	// its users: with the last one gone it leaves the interner.
	series []*series
	// alarms of single-metric rules on the set's series, so that the common
	// case (condition false, no alarm) needs no alarm id. One map serves all
	// the set's series: a single-metric rule reads one metric, so the rule
	// alone tells which series an alarm is on. Read as s.alarms.
	alarms map[*Rule]*alarm
}

// interner holds the label sets of one target by hash.
type interner struct {
	seed maphash.Seed
	sets map[uint64]*labelSet
}

func newInterner() interner {
	return interner{seed: maphash.MakeSeed(), sets: map[uint64]*labelSet{}}
}

// hash of a label set; the separators keep {a="bc"} apart from {ab="c"}.
func (in *interner) hash(ls model.Labels) uint64 {
	var h maphash.Hash
	h.SetSeed(in.seed)
	for _, l := range ls {
		h.WriteString(l.Name)
		h.WriteByte(0xfe)
		h.WriteString(l.Value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// find returns the interned set equal to ls, or nil; h is ls's hash.
func (in *interner) find(h uint64, ls model.Labels) *labelSet {
	for set := in.sets[h]; set != nil; set = set.next {
		if equalLabels(set.labels, ls) {
			return set
		}
	}
	return nil
}

// intern returns the interned set equal to ls, adding ls (not a copy: the
// caller hands it over) when there is none.
func (in *interner) intern(h uint64, ls model.Labels) *labelSet {
	set := in.find(h, ls)
	if set == nil {
		set = &labelSet{labels: ls[:len(ls):len(ls)], hash: h, next: in.sets[h]}
		in.sets[h] = set
	}
	return set
}

// release forgets the set (its last series is gone).
func (in *interner) release(set *labelSet) {
	p := in.sets[set.hash]
	if p == set {
		if set.next == nil {
			delete(in.sets, set.hash)
		} else {
			in.sets[set.hash] = set.next
		}
		return
	}
	for ; p != nil; p = p.next {
		if p.next == set {
			p.next = set.next
			return
		}
	}
}

// seriesOf returns the set's series of metric name, or nil.
func (set *labelSet) seriesOf(name string) *series {
	for _, s := range set.series {
		if s.name == name {
			return s
		}
	}
	return nil
}

// drop removes s from the set's series, and the alarms linked to it.
func (set *labelSet) drop(s *series) {
	for i, x := range set.series {
		if x == s {
			set.series = append(set.series[:i], set.series[i+1:]...)
			break
		}
	}
	for rl, a := range set.alarms {
		if a.src == s {
			delete(set.alarms, rl)
		}
	}
}

func equalLabels(a, b model.Labels) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// labelMap is the set as a map, built when a rule first reads labels.
func (set *labelSet) labelMap() map[string]string {
	if set.lmap == nil {
		set.lmap = set.labels.Map()
	}
	return set.lmap
}

// labelBoxed returns a label value as an interface whose data word points
// at the value's string header in the set's labels (see floatAt), so
// that a rule reading labels.x makes nothing, neither per evaluation nor
// per set (a slice of boxes per set cost ~4 MB at 1,000 switches). It is
// safe because an interned set's labels are never written.
func (set *labelSet) labelBoxed(name string) any {
	for i := range set.labels {
		if set.labels[i].Name == name {
			b := any("") // for the type word
			(*eface)(unsafe.Pointer(&b)).data = unsafe.Pointer(&set.labels[i].Value)
			return b
		}
	}
	return emptyLabel
}

var emptyLabel any = ""

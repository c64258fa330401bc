package snmp

// The view of one poll: every fetched varbind by OID, in OID order for
// the walks, with its text made once; pooled per kind and cleared
// between polls.

import (
	"hash/maphash"
	"sort"
	"strings"
	"sync"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/model"
)

// view holds what a poll fetched, by OID (without the leading dot), and
// the scratch space of evaluating it. A collector takes its views from a
// pool shared by its kind (release): a poll's maps and slices are the last
// poll's, cleared, not grown again from nothing.
type view struct {
	vals      map[string]int // OID -> index in objs
	objs      []object
	sorted    []string // walked OIDs in OID order
	unsorted  bool     // an OID arrived out of order: sort in finish
	truncated []string // walk roots that stopped at max_walk_varbinds
	used      int      // distinct objects with a value: what the profiles can read

	key     []byte                  // lookup keys (column.index) built without allocating
	per     [][]model.Sample        // evaluate: samples per profile
	emitted []model.Sample          // evaluate: samples kept, for the duplicate check
	seen    map[uint64]int          // evaluate: series hash -> index in emitted
	clash   map[string]bool         // evaluate: series whose hash another has (rare)
	seed    maphash.Seed            // of seen's hashes
	cols    [][]gosnmp.SnmpPDU      // fetch: one table's columns, as they arrive
	labels  model.Labels            // labels: the set being built
	byRow   map[string]model.Labels // labels: the last set built for a row, shared by equal ones
}

func newView() *view {
	return &view{vals: map[string]int{}, seen: map[uint64]int{}, seed: maphash.MakeSeed(), byRow: map[string]model.Labels{}}
}

// object is one fetched varbind and, once asked for, its text (trimmed):
// the label value of every series of its row is that one string.
type object struct {
	p      gosnmp.SnmpPDU
	text   string
	texted bool
}

// release empties v for its next poll (nothing of this poll stays
// reachable from it) and puts it back in pool (nil: dropped).
func (v *view) release(pool *sync.Pool) {
	if pool == nil {
		return
	}
	clear(v.vals)
	clear(v.objs)
	v.objs = v.objs[:0]
	clear(v.sorted)
	v.sorted, v.unsorted, v.truncated, v.used = v.sorted[:0], false, nil, 0
	for i := range v.per {
		clear(v.per[i])
		v.per[i] = v.per[i][:0]
	}
	clear(v.emitted)
	v.emitted = v.emitted[:0]
	clear(v.seen)
	clear(v.byRow)
	clear(v.labels)
	v.clash = nil
	for i := range v.cols {
		clear(v.cols[i])
		v.cols[i] = v.cols[i][:0]
	}
	pool.Put(v)
}

// find is the index in objs of column col at row idx ("": col is a
// scalar, or a full OID), -1 when it was not fetched.
func (v *view) find(col, idx string) int {
	if idx == "" {
		return v.index(col)
	}
	v.key = append(append(append(v.key[:0], col...), '.'), idx...)
	return v.index(string(v.key)) // no allocation: a map lookup of the bytes
}

// find3 is find of column col at row prefix.idx.
func (v *view) find3(col, prefix, idx string) int {
	v.key = append(append(append(v.key[:0], col...), '.'), prefix...)
	if idx != "" {
		v.key = append(append(v.key, '.'), idx...)
	}
	return v.index(string(v.key))
}

func (v *view) index(oid string) int {
	if i, ok := v.vals[oid]; ok {
		return i
	}
	return -1
}

// pdu is object i's varbind (i < 0: none, not present).
func (v *view) pdu(i int) gosnmp.SnmpPDU {
	if i < 0 {
		return gosnmp.SnmpPDU{}
	}
	return v.objs[i].p
}

// text is object i's text, trimmed, made once per poll ("" for none).
func (v *view) text(i int) string {
	if i < 0 {
		return ""
	}
	o := &v.objs[i]
	if !o.texted {
		o.text, o.texted = strings.TrimSpace(text(o.p)), true
	}
	return o.text
}

// at is the varbind of column col at row idx.
func (v *view) at(col, idx string) gosnmp.SnmpPDU { return v.pdu(v.find(col, idx)) }

func (v *view) add(p gosnmp.SnmpPDU, walked bool) {
	oid := trimOID(p.Name)
	i, dup := v.vals[oid]
	if !dup && walked {
		if n := len(v.sorted); n > 0 && !v.unsorted && compareOID(v.sorted[n-1], oid) >= 0 {
			v.unsorted = true
		}
		v.sorted = append(v.sorted, oid)
	}
	if !dup && present(p) {
		v.used++
	}
	if dup {
		v.objs[i] = object{p: p}
		return
	}
	v.vals[oid] = len(v.objs)
	v.objs = append(v.objs, object{p: p})
}

func (v *view) finish() {
	if !v.unsorted {
		return
	}
	v.unsorted = false
	sort.Slice(v.sorted, func(i, j int) bool { return compareOID(v.sorted[i], v.sorted[j]) < 0 })
}

// rows returns where the objects of a column are in v.sorted, [lo, hi),
// and the length of "column.": v.sorted[i][skip:] is a row's index.
func (v *view) rows(column string) (lo, hi, skip int) {
	skip = len(column) + 1
	lo = sort.Search(len(v.sorted), func(i int) bool { return compareOIDPrefix(v.sorted[i], column) >= 0 })
	hi = lo
	for hi < len(v.sorted) && len(v.sorted[hi]) > skip && v.sorted[hi][skip-1] == '.' && strings.HasPrefix(v.sorted[hi], column) {
		hi++
	}
	return lo, hi, skip
}

// compareOIDPrefix is compareOID(o, column+".") without building the
// string: objects under column compare after it.
func compareOIDPrefix(o, column string) int {
	if len(o) > len(column) && o[len(column)] == '.' && strings.HasPrefix(o, column) {
		return 1
	}
	return compareOID(o, column)
}

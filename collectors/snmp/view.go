package snmp

// The view of one poll: every fetched varbind by OID, in OID order for
// the walks, with its text made once; pooled per kind and cleared
// between polls. What a poll makes that outlives it is interned, so that
// the next poll finds it and allocates nothing: the OID strings in the
// view, the texts and label sets in the target's Collector (interns).

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/snmpwire"
	"github.com/vedetta-dc/vedetta/model"
)

// maxInterned bounds each intern table: past it the table is emptied and
// refilled (a device with more objects than that polls correctly, with an
// allocation per object, as before the tables).
const maxInterned = 1 << 14

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

	key     []byte               // lookup keys (column.index) built without allocating
	per     [][]model.Sample     // evaluate: samples per profile
	emitted []model.Sample       // evaluate: samples kept, for the duplicate check
	seen    map[uint64]int       // evaluate: series hash -> index in emitted
	clash   map[string]bool      // evaluate: series whose hash another has (rare)
	seed    maphash.Seed         // of seen's hashes
	cols    [][]snmpwire.Varbind // fetch: one table's columns, as they arrive (owned: in arena)
	labels  model.Labels         // labels: the set being built
	arena   []byte               // this poll's names and values, copied out of the datagrams
	tbuf    []byte               // textOf: the text being made
	rx      []byte               // fetch: the client's receive buffer (receiveBuffer)

	// Interned, kept across polls (each table bounded by maxInterned):
	// the OIDs by the view (the views of a kind serve its targets in turn,
	// and the OIDs of a kind's devices are mostly the same), the texts and
	// label sets by the target (its Collector's interns, which fetch takes
	// from the client; without them, the view's own).
	oids map[string]string // OID (no leading dot)
	in   *interns
	mine interns
}

// interns are the texts and label sets a target's polls make, kept from
// poll to poll: the next poll finds them and allocates nothing. The
// samples hold the same strings and slices anyway.
type interns struct {
	strs map[string]string       // texts: label values, where filters, map keys
	sets map[string]model.Labels // label sets, by their key: one slice for every series of a row
}

func (in *interns) init() *interns {
	if in.strs == nil {
		in.strs, in.sets = map[string]string{}, map[string]model.Labels{}
	}
	return in
}

func newView() *view {
	v := &view{vals: map[string]int{}, seen: map[uint64]int{}, seed: maphash.MakeSeed(),
		arena: make([]byte, 0, 4096), oids: map[string]string{}}
	v.in = v.mine.init()
	return v
}

// useInterns makes the poll intern in in (a target's), not in the view.
func (v *view) useInterns(in *interns) { v.in = in.init() }

// object is one fetched varbind and, once asked for, its text (trimmed):
// the label value of every series of its row is that one string.
type object struct {
	p      snmpwire.Varbind
	text   string
	texted bool
}

// release empties v for its next poll (nothing of this poll stays
// reachable from it but the interned strings and label sets, which are
// immutable) and puts it back in pool (nil: dropped).
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
	clear(v.labels)
	v.arena = v.arena[:0]
	v.in = &v.mine
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
func (v *view) pdu(i int) snmpwire.Varbind {
	if i < 0 {
		return snmpwire.Varbind{}
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
		o.text, o.texted = v.textOf(&o.p, true), true
	}
	return o.text
}

// textOf is p's text (as text renders it; trimmed of spaces if trim),
// interned.
func (v *view) textOf(p *snmpwire.Varbind, trim bool) string {
	v.tbuf = appendText(v.tbuf[:0], p)
	b := v.tbuf
	if trim {
		b = bytes.TrimSpace(b)
	}
	return intern(v.in.strs, b)
}

// intern returns the string of b from m, adding it if needed.
func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	if len(m) >= maxInterned {
		clear(m)
	}
	s := string(b)
	m[s] = s
	return s
}

// at is the varbind of column col at row idx.
func (v *view) at(col, idx string) snmpwire.Varbind { return v.pdu(v.find(col, idx)) }

// own copies p's name and bytes into the view's arena: p may point into
// a datagram buffer the next request reuses.
func (v *view) own(p *snmpwire.Varbind) snmpwire.Varbind {
	o := *p
	s := len(v.arena)
	v.arena = append(v.arena, p.Name...)
	o.Name = v.arena[s:len(v.arena):len(v.arena)]
	if p.Bytes != nil { // nil stays nil: an IpAddress without an address
		s = len(v.arena)
		v.arena = append(v.arena, p.Bytes...)
		o.Bytes = v.arena[s:len(v.arena):len(v.arena)]
	}
	return o
}

// add keeps a varbind gosnmp decoded (tests, SNMPv3 answers).
func (v *view) add(p gosnmp.SnmpPDU, walked bool) {
	vb := snmpwire.FromPDU(p)
	v.addVB(v.own(&vb), walked)
}

// addVB keeps a varbind the view owns (own).
func (v *view) addVB(p snmpwire.Varbind, walked bool) {
	name := p.Name
	if len(name) > 0 && name[0] == '.' {
		name = name[1:]
	}
	oid := intern(v.oids, name)
	i, dup := v.vals[oid]
	if !dup && walked {
		if n := len(v.sorted); n > 0 && !v.unsorted && compareOID(v.sorted[n-1], oid) >= 0 {
			v.unsorted = true
		}
		v.sorted = append(v.sorted, oid)
	}
	if !dup && vbPresent(&p) {
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

// number is the number of column col at row idx (number of the varbind).
func (v *view) number(col, idx string) (float64, bool) {
	i := v.find(col, idx)
	if i < 0 {
		return 0, false
	}
	return vbNumber(&v.objs[i].p)
}

// labelSet is the interned copy of ls. The metrics of a row mostly carry
// the same labels (if_in_bytes_total and if_oper_up of one port), and the
// next poll the same again: one slice for all of them. Samples' labels are
// read, never written (the scheduler merges them into new ones), so
// sharing is safe.
func (v *view) labelSet(ls model.Labels) model.Labels {
	v.tbuf = model.AppendKey(v.tbuf[:0], "", ls)
	sets := v.in.sets
	if prev, ok := sets[string(v.tbuf)]; ok {
		return prev
	}
	if len(sets) >= maxInterned {
		clear(sets)
	}
	out := slices.Clone(ls)
	out = out[:len(out):len(out)] // an append by a reader never writes into a shared array
	sets[string(v.tbuf)] = out
	return out
}

// receiveBuffer is the buffer a poll's answers are read into: one
// datagram at most. It stays with the view (the sessions of v1/v2c
// targets last one poll).
func (v *view) receiveBuffer() []byte {
	if v.rx == nil {
		v.rx = make([]byte, 65536)
	}
	return v.rx
}

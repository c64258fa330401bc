package snmp

// The skeleton profile profile draft writes from a survey's walked
// objects: columns split per table, numbers as FIXME metrics, a text
// column of the same table as their label.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DraftInput is what a skeleton is written from.
type DraftInput struct {
	Address, SysDescr, SysObjectID string
	Subtree                        string
	Objects                        []Walked // under Subtree, in OID order or not
}

// draftColumn is one column (or a scalar) of the skeleton.
type draftColumn struct {
	oid    string // the column, or the scalar's OID
	parent string // the table entry, or the scalar's group
	rows   []Walked
	idx    []string // row index of each row ("" for a scalar)
	scalar bool
}

// BuildDraft writes a profile skeleton for the objects of one subtree:
// scalars (OIDs ending in .0) and table columns (the split of each OID
// into entry.column.index that most columns of the entry share), numeric
// ones as metrics named FIXME_..., the first text column of a table (or
// text scalar of a group) as the label of the others, sample values,
// types and row counts as comments. It parses only what it is given (OIDs
// and text): always valid YAML, whatever the device sent (FuzzBuildDraft).
func BuildDraft(in DraftInput) []byte {
	objs := make([]Walked, 0, len(in.Objects))
	seen := map[string]bool{}
	for _, o := range in.Objects {
		o.OID = trimOID(o.OID)
		// RFC 2578: at most 128 sub-identifiers; longer is no object a
		// profile can name (and would cost the split below its square).
		if strings.Count(o.OID, ".") >= maxOIDArcs || !oidRE.MatchString(o.OID) || seen[o.OID] {
			continue
		}
		seen[o.OID] = true
		objs = append(objs, o)
	}
	sort.Slice(objs, func(i, j int) bool { return compareOID(objs[i].OID, objs[j].OID) < 0 })
	if in.Subtree = trimOID(in.Subtree); !oidRE.MatchString(in.Subtree) {
		in.Subtree = ""
	}
	cols := splitColumns(objs, strings.Count(trimOID(in.Subtree), ".")+1)

	var b strings.Builder
	ent := enterpriseOf(in.Subtree)
	slug := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(trimOID(in.Subtree), oidEnterprises), "."), ".", "-")
	if slug == "" {
		slug = strings.ReplaceAll(trimOID(in.Subtree), ".", "-")
	}
	if slug == "" {
		slug = "device"
	}
	fmt.Fprintf(&b, "# Draft written by `vedetta profile draft` from %s.\n", comment(in.Address))
	fmt.Fprintf(&b, "# sysDescr: %s\n# sysObjectID: %s\n", comment(in.SysDescr), comment(in.SysObjectID))
	b.WriteString("# To finish it: name each metric after a normalized metric (collectors/snmp/README.md,\n" +
		"# \"Normalized metrics\"; counters end in _total), delete the ones you do not want, add\n" +
		"# map:/scale:/sentinels: from the MIB, say which MIB it is, then `vedetta profile check`.\n")
	fmt.Fprintf(&b, "name: draft-%s\n", slug)
	fmt.Fprintf(&b, "mib: %s (enterprise %s)\n", draftMark, ent)
	b.WriteString("class: \"\"   # ups, pdu, environment, switch, host...\n")
	fmt.Fprintf(&b, "description: %s what it emits\n", draftMark)
	b.WriteString("match:\n")
	if in.SysObjectID != "" && oidRE.MatchString(trimOID(in.SysObjectID)) {
		fmt.Fprintf(&b, "  # sysobjectid: [%s]   # or match this device's sysObjectID\n", trimOID(in.SysObjectID))
	}
	fmt.Fprintf(&b, "  subtrees: [%s]\n", commonPrefix(objs, trimOID(in.Subtree)))
	b.WriteString("metrics:\n")
	n := 0
	for _, c := range cols {
		if !c.numeric() {
			continue
		}
		if n == draftMaxMetrics {
			fmt.Fprintf(&b, "  # ... more numeric objects than the %d written here: draft a narrower --subtree\n", draftMaxMetrics)
			break
		}
		if c.repeatsIndex() {
			fmt.Fprintf(&b, "  # %s repeats the row index (%s): not a metric\n", c.oid, samples(c.rows, 4))
			continue
		}
		n++
		kind := "table column"
		if c.scalar {
			kind = "scalar"
		}
		fmt.Fprintf(&b, "  # %s, %s, %d row(s): %s\n", kind, c.rows[0].Type, len(c.rows), samples(c.rows, 4))
		suffix := ""
		if c.rows[0].Counter {
			suffix = "_total"
		}
		fmt.Fprintf(&b, "  - name: %s_%s%s\n", draftMark, strings.ReplaceAll(strings.TrimPrefix(c.oid, in.Subtree+"."), ".", "_"), suffix)
		if c.scalar {
			fmt.Fprintf(&b, "    oid: %s\n", c.oid)
		} else {
			fmt.Fprintf(&b, "    walk: %s\n", c.oid)
		}
		if l := labelFor(c, cols); l != nil {
			fmt.Fprintf(&b, "    labels:\n      name: {column: %s}   # %s: rename it (sensor, outlet, phase...)\n", l.oid, samples(l.rows, 3))
		}
	}
	for _, c := range cols {
		if !c.numeric() {
			fmt.Fprintf(&b, "  # text, not a metric: %s (%s) %s\n", c.oid, c.rows[0].Type, samples(c.rows, 3))
		}
	}
	if n == 0 {
		b.WriteString("  []   # no numeric object in this subtree\n")
	}
	return []byte(b.String())
}

// splitColumns groups objects into scalars and table columns. minArcs is
// the length of the subtree: an entry is never shorter.
func splitColumns(objs []Walked, minArcs int) []*draftColumn {
	have := make(map[string]bool, len(objs))
	children := map[string]map[string]bool{} // node -> next arcs under it
	for _, o := range objs {
		have[o.OID] = true
		arcs := strings.Split(o.OID, ".")
		for k := 1; k < len(arcs); k++ {
			node := strings.Join(arcs[:k], ".")
			if children[node] == nil {
				children[node] = map[string]bool{}
			}
			if len(children[node]) < 256 { // a node this wide is not a table entry
				children[node][arcs[k]] = true
			}
		}
	}
	byOID := map[string]*draftColumn{}
	var out []*draftColumn
	for _, o := range objs {
		arcs := strings.Split(o.OID, ".")
		col, parent, idx, scalar := "", "", "", false
		if arcs[len(arcs)-1] == "0" || len(arcs) < 3 {
			scalar = true
			col = o.OID
			parent = strings.Join(arcs[:max(len(arcs)-2, 1)], ".")
		} else {
			bestK, best := len(arcs)-2, -1
			for k := max(minArcs, 1); k <= len(arcs)-2; k++ {
				entry := strings.Join(arcs[:k], ".")
				rest := strings.Join(arcs[k+1:], ".")
				score := 0
				for c := range children[entry] {
					if have[entry+"."+c+"."+rest] {
						score++
					}
				}
				score *= 2
				if arcs[k-1] == "1" { // SMI: xxxEntry ::= { xxxTable 1 }
					score++
				}
				if score >= best { // ties: the deepest split (the shortest index)
					bestK, best = k, score
				}
			}
			parent = strings.Join(arcs[:bestK], ".")
			col = parent + "." + arcs[bestK]
			idx = strings.Join(arcs[bestK+1:], ".")
		}
		c := byOID[col]
		if c == nil {
			c = &draftColumn{oid: col, parent: parent, scalar: scalar}
			byOID[col] = c
			out = append(out, c)
		}
		c.rows = append(c.rows, o)
		c.idx = append(c.idx, idx)
	}
	return out
}

func (c *draftColumn) numeric() bool {
	for _, r := range c.rows {
		if !r.Numeric {
			return false
		}
	}
	return len(c.rows) > 0
}

// repeatsIndex: a column whose value is its own row index (xxxIndex).
func (c *draftColumn) repeatsIndex() bool {
	if c.scalar || len(c.rows) < 2 {
		return false
	}
	for i, r := range c.rows {
		if r.Text != c.idx[i] {
			return false
		}
	}
	return true
}

// labelFor is the label a person most likely wants: the first text
// column of c's table; for a scalar, the closest text scalar before it in
// its group (ServersCheck and Sensatronics put each value after its name),
// else the first after it.
func labelFor(c *draftColumn, cols []*draftColumn) *draftColumn {
	var before, after *draftColumn
	seen := false
	for _, o := range cols {
		if o == c {
			seen = true
			continue
		}
		if o.parent != c.parent || o.scalar != c.scalar || o.numeric() || o.rows[0].Type != "OctetString" {
			continue
		}
		if !c.scalar {
			return o
		}
		if !seen {
			before = o
		} else if after == nil {
			after = o
		}
	}
	if before != nil {
		return before
	}
	return after
}

// commonPrefix is the longest OID prefix the objects share, at least the
// subtree: what the draft matches on.
func commonPrefix(objs []Walked, subtree string) string {
	if len(objs) == 0 {
		if subtree == "" {
			return oidEnterprises
		}
		return subtree
	}
	p := strings.Split(objs[0].OID, ".")
	for _, o := range objs[1:] {
		a := strings.Split(o.OID, ".")
		n := 0
		for n < len(p) && n < len(a) && p[n] == a[n] {
			n++
		}
		p = p[:n]
	}
	if len(p) > 1 {
		p = p[:len(p)-1] // a node above the objects: a GETNEXT on it lands on the first one
	}
	s := strings.Join(p, ".")
	if len(s) < len(subtree) || s == "" {
		s = subtree
	}
	if s == "" {
		s = oidEnterprises
	}
	return s
}

// samples renders up to n row values for a comment.
func samples(rows []Walked, n int) string {
	var parts []string
	for i, r := range rows {
		if i == n {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, strconv.Quote(truncate(r.Text, 40)))
	}
	return comment(strings.Join(parts, ", "))
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// comment makes text safe in a YAML comment: one line, printable.
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
}

package snmp

import (
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// RowFrom says at which row a label's column is read, when it is not the
// sample's own row: IndexPart (1-based) takes one part of the sample's
// index (VRRP-MIB vrrpOperTable is ifIndex.vrid; ifName is indexed by
// ifIndex alone), Column takes the value of another column of the
// sample's row, the first of the list that is neither empty nor 0
// (IEEE8023-LAG-MIB dot3adAggPortSelectedAggID holds the ifIndex of the
// aggregator a port belongs to; 0 means none).
//
// Sibling takes the row, among those whose index differs from the
// sample's only in its last part, whose Sibling.Column reads like the
// sample row's with its last dot-separated word replaced by Sibling.Last:
// Rittal's cmcIIIVarTable lists a sensor's variables as rows of one table
// ("Temperature.Value" at 1.2, "Temperature.DescName", the name the user
// gave it, at 1.1).
type RowFrom struct {
	IndexPart int         `yaml:"index_part"`
	Column    oidList     `yaml:"column"`
	Sibling   *SiblingRow `yaml:"sibling"`
}

// SiblingRow is RowFrom.Sibling: the column holding the rows' names and
// the last word of the wanted row's name.
type SiblingRow struct {
	Column string `yaml:"column"`
	Last   string `yaml:"last"`
}

// checkLabelExtras checks the label options of labels.go (unsigned, row)
// and, for row.column, appends those columns to lf.Column so that the poll
// fetches them (the plan fetches every label column; resolve reads only
// the first as the label's value).
func checkLabelExtras(m *Metric, lf *LabelFrom) []string {
	var errs []string
	if lf.Unsigned && (lf.Value != "" || lf.IndexString) {
		errs = append(errs, "unsigned needs a number: a column, the index or an index part")
	}
	if lf.Row == nil {
		return errs
	}
	r := lf.Row
	switch {
	case len(lf.Column) != 1:
		errs = append(errs, "row needs exactly one column (the column read at that row)")
	case m.Walk == "":
		errs = append(errs, "row needs walk: a scalar has no row")
	case b2i(r.IndexPart > 0)+b2i(len(r.Column) > 0)+b2i(r.Sibling != nil) != 1:
		errs = append(errs, "row: give exactly one of index_part and column (or sibling)")
	case r.IndexPart < 0:
		errs = append(errs, "row.index_part counts from 1")
	}
	if s := r.Sibling; s != nil {
		s.Column = trimOID(s.Column)
		switch {
		case !oidRE.MatchString(s.Column):
			errs = append(errs, "row.sibling.column: "+strconv.Quote(s.Column)+" is not a numeric OID")
		case s.Last == "" || strings.Contains(s.Last, "."):
			errs = append(errs, "row.sibling.last: the last word of the sibling's name (no dot), e.g. DescName")
		}
	}
	for k, c := range r.Column {
		r.Column[k] = trimOID(c)
		if !oidRE.MatchString(r.Column[k]) {
			errs = append(errs, "row.column: "+strconv.Quote(c)+" is not a numeric OID")
		}
	}
	if len(errs) == 0 {
		lf.Column = append(lf.Column, r.Column...)
		if r.Sibling != nil {
			lf.Column = append(lf.Column, r.Sibling.Column)
		}
	}
	return errs
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// value computes a label for row idx ("" for a scalar): a fixed value,
// the index or a part of it, or the text of the first non-empty column
// (read at another row with row:), else the default, else the row index
// (rows stay apart even without a name); then unsigned, trim and map.
func (lf LabelFrom) value(v *view, idx string) string {
	val := ""
	switch {
	case lf.Row != nil:
		if row := lf.Row.of(v, idx); row != "" {
			if val = v.text(v.find(lf.Column[0], row)); val == "" {
				val = row // the referenced row has no name: its index still tells it apart
			}
		}
		if val == "" && lf.Default != nil {
			val = *lf.Default
		}
	case lf.Value != "":
		val = lf.Value
	case lf.Index:
		val = idx
	case lf.IndexPart > 0:
		val = indexPart(idx, lf.IndexPart)
	case lf.IndexString:
		val = indexString(idx)
	default:
		for _, c := range lf.Column {
			if t := v.text(v.find(c, idx)); t != "" {
				val = t
				break
			}
		}
		if val == "" && lf.Default != nil {
			val = *lf.Default
		} else if val == "" {
			val = idx
		}
	}
	if lf.Unsigned {
		val = unsigned32(val)
	}
	if lf.Trim != "" {
		val = strings.Trim(val, lf.Trim)
	}
	if mv, ok := lf.Map[val]; ok {
		val = mv
	}
	return val
}

// of returns the row at which the label's column is read, "" if none.
func (r *RowFrom) of(v *view, idx string) string {
	if r.IndexPart > 0 {
		return indexPart(idx, r.IndexPart)
	}
	if s := r.Sibling; s != nil {
		return s.of(v, idx)
	}
	for _, c := range r.Column {
		t := v.text(v.find(c, idx))
		if t != "" && t != "0" && oidRE.MatchString(t) {
			return t
		}
	}
	return ""
}

// of finds the sibling row of idx ("" if none): same index but the last
// part, named like idx's row with its last word replaced by s.Last.
func (s *SiblingRow) of(v *view, idx string) string {
	name := v.text(v.find(s.Column, idx))
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return ""
	}
	want := name[:dot+1] + s.Last
	prefix := ""
	if i := strings.LastIndexByte(idx, '.'); i >= 0 {
		prefix = idx[:i+1]
	}
	lo, hi, skip := v.rows(s.Column)
	for i := lo; i < hi; i++ {
		row := v.sorted[i][skip:]
		if strings.HasPrefix(row, prefix) && !strings.Contains(row[len(prefix):], ".") && v.text(v.index(v.sorted[i])) == want {
			return row
		}
	}
	return ""
}

// unsigned32 reads s as a 32-bit number and writes it unsigned: an
// Integer32 that carries an unsigned value (a 4-byte AS number above
// 2^31 arrives as a negative number) is turned back into it. Anything that
// is not a whole number within [-2^31, 2^32) is returned unchanged: a label
// is never made up.
func unsigned32(s string) string {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < -1<<31 || n >= 1<<32 {
		return s
	}
	return strconv.FormatUint(uint64(uint32(n)), 10)
}

// labels builds the sample's labels for row idx ("" for a scalar).
func (m *Metric) labels(v *view, idx string) (model.Labels, bool) {
	if len(m.Labels) == 0 {
		return nil, true
	}
	ls := v.labels[:0]
	for name, lf := range m.Labels {
		ls = append(ls, model.Label{Name: name, Value: lf.value(v, idx)}) // labels.go
	}
	// Sorted by name, as model.L does (a handful of labels: insertion).
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	v.labels = ls
	return v.labelSet(ls), true // view.go: one slice per distinct set, kept across polls
}

// indexPart is part n (from 1) of a dotted index, "" past its end.
func indexPart(idx string, n int) string {
	for ; n > 1; n-- {
		i := strings.IndexByte(idx, '.')
		if i < 0 {
			return ""
		}
		idx = idx[i+1:]
	}
	if i := strings.IndexByte(idx, '.'); i >= 0 {
		return idx[:i]
	}
	return idx
}

package snmp

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/model"
)

// plan is what one poll of a set of profiles must fetch.
type plan struct {
	gets   []string   // scalar OIDs
	walks  []string   // subtree roots, none inside another
	tables [][]string // walks grouped by table (the same parent OID), fetched together
}

func newPlan(profiles []*Profile) plan {
	gets := map[string]bool{}
	walks := map[string]bool{}
	for _, p := range profiles {
		for i := range p.Metrics {
			m := &p.Metrics[i]
			// Columns read next to a walked column are walked; next to a
			// scalar they are fetched as scalars.
			add := func(oid string) {
				if oid == "" {
					return
				}
				if m.Walk != "" {
					walks[oid] = true
				} else {
					gets[oid] = true
				}
			}
			add(m.OID)
			add(m.Walk)
			add(m.DivideBy)
			add(m.EntityScaleColumn)
			add(m.PrecisionColumn)
			add(m.Distinct)
			if m.LineCount != "" {
				gets[m.LineCount] = true // a scalar, whatever the metric
			}
			for _, w := range m.Where {
				add(w.Column)
				if w.OID != "" {
					gets[w.OID] = true
				}
			}
			for _, lf := range m.Labels {
				for _, c := range lf.Column {
					add(c)
				}
			}
		}
	}
	var pl plan
	for o := range gets {
		pl.gets = append(pl.gets, o)
	}
	sort.Slice(pl.gets, func(i, j int) bool { return compareOID(pl.gets[i], pl.gets[j]) < 0 })
	var roots []string
	for o := range walks {
		roots = append(roots, o)
	}
	sort.Slice(roots, func(i, j int) bool { return compareOID(roots[i], roots[j]) < 0 })
	for _, r := range roots {
		if n := len(pl.walks); n > 0 && strings.HasPrefix(r+".", pl.walks[n-1]+".") {
			continue // inside the previous root
		}
		pl.walks = append(pl.walks, r)
	}
	// The columns of a table are consecutive in OID order.
	for i, r := range pl.walks {
		if n := len(pl.tables); n > 0 && parentOID(pl.tables[n-1][0]) == parentOID(r) {
			pl.tables[n-1] = append(pl.tables[n-1], r)
			continue
		}
		pl.tables = append(pl.tables, pl.walks[i:i+1:i+1])
	}
	return pl
}

func parentOID(o string) string {
	if i := strings.LastIndexByte(o, '.'); i >= 0 {
		return o[:i]
	}
	return ""
}

// tableRows remembers, per table (its first walked column), how many rows
// the last round read: the next round's GETBULK is sized to it.
type tableRows map[string]int

// view holds what a poll fetched, by OID (without the leading dot).
type view struct {
	vals      map[string]gosnmp.SnmpPDU
	sorted    []string // walked OIDs in OID order
	unsorted  bool     // an OID arrived out of order: sort in finish
	truncated []string // walk roots that stopped at max_walk_varbinds
	used      int      // distinct objects with a value: what the profiles can read
}

func newView() *view { return &view{vals: map[string]gosnmp.SnmpPDU{}} }

func (v *view) add(p gosnmp.SnmpPDU, walked bool) {
	oid := trimOID(p.Name)
	_, dup := v.vals[oid]
	if !dup && walked {
		if n := len(v.sorted); n > 0 && !v.unsorted && compareOID(v.sorted[n-1], oid) >= 0 {
			v.unsorted = true
		}
		v.sorted = append(v.sorted, oid)
	}
	if !dup && present(p) {
		v.used++
	}
	v.vals[oid] = p
}

func (v *view) finish() {
	if !v.unsorted {
		return
	}
	v.unsorted = false
	sort.Slice(v.sorted, func(i, j int) bool { return compareOID(v.sorted[i], v.sorted[j]) < 0 })
}

// rows returns the row indexes present under a column, in OID order.
func (v *view) rows(column string) []string {
	prefix := column + "."
	i := sort.Search(len(v.sorted), func(i int) bool { return compareOID(v.sorted[i], prefix) >= 0 })
	var out []string
	for ; i < len(v.sorted) && strings.HasPrefix(v.sorted[i], prefix); i++ {
		out = append(out, v.sorted[i][len(prefix):])
	}
	return out
}

// fetch runs a plan. A walk that fails after some rows keeps those rows;
// the first error is returned with whatever was fetched. A walk that
// reaches the agent's max_walk_varbinds stops there, keeps what it has, and
// is listed in view.truncated (not an error: the rows read are good). The
// columns of a table are walked together, sized by rows (the last round's
// row counts, updated here; nil: nothing remembered).
func fetch(ctx context.Context, c *client, pl plan, rows tableRows) (*view, error) {
	v := newView()
	var firstErr error
	if len(pl.gets) > 0 {
		pdus, err := c.get(ctx, pl.gets)
		for _, p := range pdus {
			v.add(p, false)
		}
		if err != nil {
			return v, err
		}
	}
	var cols [][]gosnmp.SnmpPDU // per column of the table being walked
	for _, table := range pl.tables {
		cols = cols[:0]
		for range table {
			cols = append(cols, nil)
		}
		last, ok := rows[table[0]]
		if !ok {
			last = -1
		}
		n, truncated, err := c.walkColumns(ctx, table, last, walkLimitOf(c.agent), func(i int, p gosnmp.SnmpPDU) {
			cols[i] = append(cols[i], p)
		})
		// Column by column: the view stays in OID order.
		for _, col := range cols {
			for _, p := range col {
				v.add(p, true)
			}
		}
		v.truncated = append(v.truncated, truncated...)
		if err == nil && rows != nil {
			rows[table[0]] = n
		}
		if err != nil {
			if ctx.Err() != nil || (isTimeout(err) && !c.answered) {
				v.finish()
				return v, err
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	v.finish()
	return v, firstErr
}

// evaluate turns a view into samples, profile by profile, every value
// judged by g (plausibility.yaml; nil: a fresh guard, nothing
// remembered). Metric names a profile emitted are dropped from the
// profiles it overrides; a series that two profiles still both produce is
// kept from the first only.
func evaluate(profiles []*Profile, v *view, g *guard, emit func(model.Sample)) {
	if g == nil {
		g = newGuard("", nil, nil)
	}
	per := make([][]model.Sample, len(profiles))
	for i, p := range profiles {
		for j := range p.Metrics {
			p.Metrics[j].eval(v, g, func(s model.Sample) { per[i] = append(per[i], s) })
		}
	}
	drop := map[string]map[string]bool{} // overridden profile -> metric names
	for i, p := range profiles {
		for _, o := range p.Overrides {
			if drop[o] == nil {
				drop[o] = map[string]bool{}
			}
			for _, s := range per[i] {
				drop[o][s.Name] = true
			}
		}
	}
	seen := map[string]bool{}
	for i, p := range profiles {
		for _, s := range per[i] {
			if drop[p.Name][s.Name] {
				continue
			}
			k := s.Key()
			if seen[k] {
				continue
			}
			seen[k] = true
			emit(s)
		}
	}
}

func (m *Metric) eval(v *view, g *guard, emit func(model.Sample)) {
	if m.OID != "" {
		if !m.keep(v, "") {
			return
		}
		val, ok := m.value(v, g, v.vals[m.OID], "")
		if !ok {
			return
		}
		ls, ok := m.labels(v, "")
		if !ok {
			return
		}
		emit(model.Sample{Name: m.Name, Labels: ls, Value: val})
		return
	}
	var agg []float64
	lines := -1 // rows allowed by line_count; -1: all
	if m.LineCount != "" {
		if n, ok := number(v.vals[m.LineCount]); ok && n >= 0 {
			lines = int(n)
		}
	}
	seen := map[string]bool{} // values of the distinct column
	for _, idx := range v.rows(m.Walk) {
		if lines >= 0 {
			first, _, _ := strings.Cut(idx, ".")
			if n, err := strconv.Atoi(first); err != nil || n < 1 || n > lines {
				continue // a phantom line the device says it does not have
			}
		}
		if !m.keep(v, idx) {
			continue
		}
		if m.Distinct != "" {
			d := strings.TrimSpace(text(v.vals[m.Distinct+"."+idx]))
			if d != "" && seen[d] {
				continue // another row of the same thing (a bind mount)
			}
			if d != "" {
				seen[d] = true
			}
		}
		val, ok := m.value(v, g, v.vals[m.Walk+"."+idx], idx)
		if !ok {
			continue
		}
		if m.Aggregate != "" {
			agg = append(agg, val)
			continue
		}
		ls, ok := m.labels(v, idx)
		if !ok {
			continue
		}
		emit(model.Sample{Name: m.Name, Labels: ls, Value: val})
	}
	if m.Aggregate == "" {
		return
	}
	var r float64
	switch m.Aggregate {
	case "count":
		r = float64(len(agg))
	case "any":
		if len(agg) > 0 {
			r = 1
		}
	case "sum":
		for _, x := range agg {
			r += x
		}
	case "max", "min":
		if len(agg) == 0 {
			return
		}
		r = agg[0]
		for _, x := range agg[1:] {
			if (m.Aggregate == "max") == (x > r) {
				r = x
			}
		}
	}
	if rg, ok := g.table.For(m.Name); ok && !rg.Plausible(r) {
		g.count(m.Name, ReasonOutOfRange) // a sum of plausible rows can still be absurd
		return
	}
	ls, _ := m.labels(v, "")
	emit(model.Sample{Name: m.Name, Labels: ls, Value: r})
}

func (m *Metric) keep(v *view, idx string) bool {
	if m.indexRE != nil && !m.indexRE.MatchString(idx) {
		return false
	}
	for _, w := range m.Where {
		key := w.OID
		if key == "" {
			key = w.Column
			if w.IndexPrefix != "" {
				key += "." + w.IndexPrefix
			}
			if idx != "" {
				key += "." + idx
			}
		}
		t := strings.TrimSpace(text(v.vals[key]))
		if len(w.In) > 0 && !contains(w.In, t) {
			return false
		}
		if contains(w.NotIn, t) {
			return false
		}
		if w.match != nil && !w.match.MatchString(t) {
			return false
		}
		if w.notMatch != nil && w.notMatch.MatchString(t) {
			return false
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s || strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// value runs the value pipeline, then the plausibility decision (g); ok
// is false when there is no sample.
func (m *Metric) value(v *view, g *guard, p gosnmp.SnmpPDU, idx string) (float64, bool) {
	if !present(p) {
		return 0, false
	}
	num, isNum := number(p)
	if !isNum && m.Map == nil && g.table.unknownText(text(p)) {
		g.sentinel(m, idx, math.NaN(), text(p)) // "N/A": the device says it does not know
		return 0, false
	}
	raw := num
	if isNum {
		for _, s := range m.Sentinels {
			if num == s {
				g.sentinel(m, idx, num, "") // the profile's own
				return 0, false
			}
		}
	}
	key := ""
	if m.Mask != 0 {
		if !isNum || num < 0 {
			return 0, false
		}
		num = float64(uint64(num) & m.Mask)
		key = strconv.FormatFloat(num, 'f', -1, 64)
	}
	if m.Bit != nil {
		if !isNum || num < 0 {
			return 0, false
		}
		num = float64((uint64(num) >> uint(*m.Bit)) & 1)
		key = strconv.FormatFloat(num, 'f', -1, 64)
	}
	if m.Map != nil {
		if key == "" {
			key = strings.TrimSpace(text(p))
		}
		mv, ok := m.Map[key]
		if !ok {
			for k, x := range m.Map {
				if strings.EqualFold(k, key) {
					mv, ok = x, true
					break
				}
			}
		}
		if !ok && isNum && m.Bit == nil {
			mv, ok = m.Map[strconv.FormatFloat(num, 'f', -1, 64)]
		}
		if !ok {
			return 0, false
		}
		num, isNum = mv, true
	}
	if !isNum {
		return 0, false
	}
	col := func(c string) string {
		if idx == "" {
			return c
		}
		return c + "." + idx
	}
	if m.DivideBy != "" {
		d, ok := number(v.vals[col(m.DivideBy)])
		if !ok || d == 0 {
			return 0, false
		}
		num /= d
	}
	if m.EntityScaleColumn != "" {
		s, ok := number(v.vals[col(m.EntityScaleColumn)])
		if !ok || s < 1 || s > 17 {
			return 0, false
		}
		num *= math.Pow(1000, s-9)
	}
	if m.PrecisionColumn != "" {
		pr, ok := number(v.vals[col(m.PrecisionColumn)])
		if ok && pr >= -8 && pr <= 9 {
			num /= math.Pow(10, pr)
		}
	}
	if math.IsNaN(num) || math.IsInf(num, 0) {
		return 0, false
	}
	if m.Map != nil || m.Bit != nil || m.Mask != 0 {
		raw = num // the raw number was an enum: what is judged is its meaning
	}
	return g.judge(m, idx, raw, num, p.Type == gosnmp.TimeTicks)
}

// denoise rounds away float noise (23.400000000000002 from 234 × 0.1). An
// integer (a raw counter) is exact as it is: rounding it at 1e-9 added
// noise of its own above 9e6 (20070853180 became 20070853180.000004); a
// large fraction keeps the 15 significant digits a float64 holds.
func denoise(num float64) float64 {
	switch {
	case num == math.Trunc(num):
		return num
	case math.Abs(num) < 1e6:
		return math.Round(num*1e9) / 1e9
	}
	out, _ := strconv.ParseFloat(strconv.FormatFloat(num, 'g', 15, 64), 64)
	return out
}

// labels builds the sample's labels for row idx ("" for a scalar).
func (m *Metric) labels(v *view, idx string) (model.Labels, bool) {
	if len(m.Labels) == 0 {
		return nil, true
	}
	pairs := make([]string, 0, 2*len(m.Labels))
	for name, lf := range m.Labels {
		val := ""
		switch {
		case lf.Value != "":
			val = lf.Value
		case lf.Index:
			val = idx
		case lf.IndexPart > 0:
			parts := strings.Split(idx, ".")
			if lf.IndexPart <= len(parts) {
				val = parts[lf.IndexPart-1]
			}
		case lf.IndexString:
			val = indexString(idx)
		default:
			for _, c := range lf.Column {
				key := c
				if idx != "" {
					key = c + "." + idx
				}
				if t := strings.TrimSpace(text(v.vals[key])); t != "" {
					val = t
					break
				}
			}
			if val == "" && lf.Default != nil {
				val = *lf.Default
			} else if val == "" {
				val = idx // keep rows apart even without a name
			}
		}
		if lf.Trim != "" {
			val = strings.Trim(val, lf.Trim)
		}
		if mv, ok := lf.Map[val]; ok {
			val = mv
		}
		pairs = append(pairs, name, val)
	}
	return model.L(pairs...), true
}

package snmp

import (
	"context"
	"hash/maphash"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/snmpwire"
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

// fetch runs a plan. A walk that fails after some rows keeps those rows;
// the first error is returned with whatever was fetched. A walk that
// reaches the agent's max_walk_varbinds stops there, keeps what it has, and
// is listed in view.truncated (not an error: the rows read are good). The
// columns of a table are walked together, sized by rows (the last round's
// row counts, updated here; nil: nothing remembered).
func fetch(ctx context.Context, c *client, pl plan, rows tableRows, v *view) (*view, error) {
	if v == nil {
		v = newView()
	}
	if c.interns != nil {
		v.useInterns(c.interns) // the target's texts and label sets, from its last poll
	}
	c.rx = v.receiveBuffer() // a session lasts one poll (v1/v2c): the buffer stays with the pooled view
	defer func() { c.rx = nil }()
	var firstErr error
	if len(pl.gets) > 0 {
		err := c.getInto(ctx, pl.gets, func(p *snmpwire.Varbind) { v.addVB(v.own(p), false) })
		if err != nil {
			return v, err
		}
	}
	for _, table := range pl.tables {
		for len(v.cols) < len(table) {
			v.cols = append(v.cols, nil)
		}
		cols := v.cols[:len(table)]
		for i := range cols {
			cols[i] = cols[i][:0]
		}
		last, ok := rows[table[0]]
		if !ok {
			last = -1
		}
		n, truncated, err := c.walkColumns(ctx, table, last, walkLimitOf(c.agent), func(i int, p *snmpwire.Varbind) {
			cols[i] = append(cols[i], v.own(p))
		})
		// Column by column: the view stays in OID order.
		for _, col := range cols {
			for _, p := range col {
				v.addVB(p, true)
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
	for len(v.per) < len(profiles) {
		v.per = append(v.per, nil)
	}
	per := v.per[:len(profiles)]
	for i, p := range profiles {
		out := per[i][:0]
		for j := range p.Metrics {
			p.Metrics[j].eval(v, g, func(s model.Sample) { out = append(out, s) })
		}
		per[i] = out
	}
	var drop map[string]map[string]bool // overridden profile -> metric names
	for i, p := range profiles {
		for _, o := range p.Overrides {
			if drop == nil {
				drop = map[string]map[string]bool{}
			}
			if drop[o] == nil {
				drop[o] = map[string]bool{}
			}
			for _, s := range per[i] {
				drop[o][s.Name] = true
			}
		}
	}
	for i, p := range profiles {
		for _, s := range per[i] {
			if drop[p.Name][s.Name] {
				continue
			}
			if v.duplicate(s) {
				continue
			}
			emit(s)
		}
	}
}

// duplicate reports whether a series like s was kept already, and keeps
// s otherwise: a hash of its key, checked against the sample itself,
// rather than a key string per sample.
func (v *view) duplicate(s model.Sample) bool {
	v.key = model.AppendKey(v.key[:0], s.Name, s.Labels)
	h := maphash.Bytes(v.seed, v.key)
	j, ok := v.seen[h]
	if !ok {
		v.seen[h] = len(v.emitted)
		v.emitted = append(v.emitted, s)
		return false
	}
	if sameSeries(v.emitted[j], s) {
		return true
	}
	if v.clash == nil { // two series, one hash: compare keys
		v.clash = map[string]bool{model.SeriesKey(v.emitted[j].Name, v.emitted[j].Labels): true}
	}
	k := string(v.key)
	if v.clash[k] {
		return true
	}
	v.clash[k] = true
	return false
}

func sameSeries(a, b model.Sample) bool {
	if a.Name != b.Name || len(a.Labels) != len(b.Labels) {
		return false
	}
	for i := range a.Labels {
		if a.Labels[i] != b.Labels[i] {
			return false
		}
	}
	return true
}

func (m *Metric) eval(v *view, g *guard, emit func(model.Sample)) {
	if m.OID != "" {
		if !m.keep(v, "") {
			return
		}
		val, ok := m.value(v, g, v.at(m.OID, ""), "")
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
		if n, ok := v.number(m.LineCount, ""); ok && n >= 0 {
			lines = int(n)
		}
	}
	var seen map[string]bool // values of the distinct column
	lo, hi, skip := v.rows(m.Walk)
	for r := lo; r < hi; r++ {
		idx := v.sorted[r][skip:]
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
			d := v.text(v.find(m.Distinct, idx))
			if d != "" && seen[d] {
				continue // another row of the same thing (a bind mount)
			}
			if d != "" {
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[d] = true
			}
		}
		val, ok := m.value(v, g, v.at(m.Walk, idx), idx)
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
		var at int
		switch {
		case w.OID != "":
			at = v.find(w.OID, "")
		case w.IndexPrefix != "":
			at = v.find3(w.Column, w.IndexPrefix, idx)
		default:
			at = v.find(w.Column, idx)
		}
		t := v.text(at)
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
func (m *Metric) value(v *view, g *guard, p snmpwire.Varbind, idx string) (float64, bool) {
	if !vbPresent(&p) {
		return 0, false
	}
	num, isNum := vbNumber(&p)
	if !isNum && m.Map == nil && g.table.unknownText(v.textOf(&p, false)) {
		g.sentinel(m, idx, math.NaN(), v.textOf(&p, false)) // "N/A": the device says it does not know
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
	key, read := "", ""
	if m.Map != nil || m.Bit != nil || m.Mask != 0 {
		read = v.textOf(&p, true) // what probe snmp shows as read (interned: no garbage)
	}
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
			key = v.textOf(&p, true)
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
			g.unmapped(m, idx, read)
			return 0, false
		}
		num, isNum = mv, true
	}
	if !isNum {
		return 0, false
	}
	if m.DivideBy != "" {
		d, ok := v.number(m.DivideBy, idx)
		if !ok || d == 0 {
			return 0, false
		}
		num /= d
	}
	if m.EntityScaleColumn != "" {
		s, ok := v.number(m.EntityScaleColumn, idx)
		if !ok || s < 1 || s > 17 {
			return 0, false
		}
		num *= math.Pow(1000, s-9)
	}
	if m.PrecisionColumn != "" {
		pr, ok := v.number(m.PrecisionColumn, idx)
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
	return g.judge(m, idx, raw, num, p.Type == gosnmp.TimeTicks, read)
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

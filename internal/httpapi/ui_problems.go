package httpapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/model"
)

// The Problems view: firing and stale alarms by severity, then age; its
// body is rendered by hand (see problemsBody) and polled as JSON.

// problemRow is one firing or stale alarm, as shown and as polled.
type problemRow struct {
	ID       string  `json:"id"`
	Severity string  `json:"severity"`
	Rule     string  `json:"rule"`
	Target   string  `json:"target"`
	Labels   string  `json:"labels"`
	Value    float64 `json:"value"`
	Summary  string  `json:"summary"`
	State    string  `json:"state"`
	Since    string  `json:"since"`
	Age      string  `json:"age"`
	Ack      string  `json:"ack,omitempty"`
	Silenced string  `json:"silenced,omitempty"`
	Held     string  `json:"held,omitempty"`
	since    time.Time
}

type problemsData struct {
	Rows     []problemRow
	Body     template.HTML // the rows, escaped by problemsBody
	Severity string
	Label    string
	Query    string
	Total    int
}

// problemFilter is ?severity=critical&label=room=a (label repeatable).
type problemFilter struct {
	severity string
	labels   map[string]string
}

func parseProblemFilter(q url.Values) problemFilter {
	f := problemFilter{severity: q.Get("severity"), labels: map[string]string{}}
	for _, field := range q["label"] {
		for _, kv := range strings.FieldsFunc(field, func(c rune) bool { return c == ',' || c == ' ' }) {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				f.labels[k] = strings.Trim(v, `"`)
			}
		}
	}
	return f
}

// problemRows are the firing and stale alarms passing f, by severity
// (critical first) then age (oldest first).
func (u *ui) problemRows(f problemFilter) ([]problemRow, int) {
	now := u.now()
	d := u.src.Notifications()
	var sils []dispatch.Silence
	if d != nil {
		sils = d.Silences()
	}
	total := 0
	all := u.src.Alarms()
	rows := make([]problemRow, 0, len(all))
	for _, a := range all {
		if a.State != model.StateFiring && a.State != model.StateStale {
			continue
		}
		total++
		if f.severity != "" && a.Severity != f.severity {
			continue
		}
		if len(f.labels) > 0 && !alarmMatches(f.labels, &a) {
			continue
		}
		row := problemRow{ID: a.ID, Severity: a.Severity, Rule: a.Rule, Target: a.Labels["target"], Labels: labelString(a.Labels),
			Value: a.Value, Summary: a.Summary, State: string(a.State), since: a.Since()}
		row.Since = uiFuncs["ts"].(func(time.Time) string)(row.since)
		row.Age = uiFuncs["ago"].(func(time.Time, time.Time) string)(now, row.since)
		var n *dispatch.Notice
		if d != nil {
			n = d.Notice(a.ID)
		}
		if ids := silencedBy(&a, sils, now); len(ids) > 0 {
			row.Silenced = "silenced by " + strings.Join(ids, ", ")
		}
		if n != nil {
			if n.Ack != nil {
				row.Ack = fmt.Sprintf("%s until %s", n.Ack.By, n.Ack.Expires.UTC().Format("15:04Z"))
				if n.Ack.Comment != "" {
					row.Ack += ": " + n.Ack.Comment
				}
			}
			row.Held = n.Waiting
		}
		if a.Flapping {
			row.Held = strings.TrimPrefix(row.Held+"; flapping", "; ")
		}
		rows = append(rows, row)
	}
	// Sort small keys, then place the rows (a row is too big to swap).
	type key struct {
		rank  int
		since int64
		id    string
		i     int
	}
	keys := make([]key, len(rows))
	for i := range rows {
		keys[i] = key{sevRank(rows[i].Severity), rows[i].since.UnixNano(), rows[i].ID, i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		if a.since != b.since {
			return cmp.Compare(a.since, b.since)
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]problemRow, len(rows))
	for i, k := range keys {
		out[i] = rows[k.i]
	}
	return out, total
}

func sevRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	case "info":
		return 2
	}
	return 3
}

func (u *ui) problems(w http.ResponseWriter, r *http.Request) {
	f := parseProblemFilter(r.URL.Query())
	rows, total := u.problemRows(f)
	u.render(w, r, "problems", "Problems", problemsData{Rows: rows, Body: problemsBody(rows), Severity: f.severity,
		Label: strings.Join(r.URL.Query()["label"], " "), Query: r.URL.RawQuery, Total: total})
}

// problemsBody writes the Problems rows (the same cells problems.js
// writes): by hand rather than by html/template, whose reflection costs
// ~300 ms for 5,000 rows. Every value goes through esc, the escaping of
// html/template's HTMLEscapeString (TestProblemsBodyEscapes).
func problemsBody(rows []problemRow) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 640)
	esc := func(s string) {
		last := 0
		for i := 0; i < len(s); i++ {
			var ent string
			switch s[i] {
			case '<':
				ent = "&lt;"
			case '>':
				ent = "&gt;"
			case '&':
				ent = "&amp;"
			case '\'':
				ent = "&#39;"
			case '"':
				ent = "&#34;"
			case 0:
				ent = "\uFFFD"
			default:
				continue
			}
			b.WriteString(s[last:i])
			b.WriteString(ent)
			last = i + 1
		}
		b.WriteString(s[last:])
	}
	for i := range rows {
		r := &rows[i]
		b.WriteString(`<tr class="sev-`)
		esc(r.Severity)
		b.WriteString(`" data-id="`)
		esc(r.ID)
		b.WriteString(`"><td>`)
		esc(r.Severity)
		b.WriteString(`</td><td><a href="/alarm/`)
		esc(url.PathEscape(r.ID))
		b.WriteString(`">`)
		esc(r.Rule)
		b.WriteString(`</a></td><td>`)
		esc(r.Target)
		b.WriteString(`</td><td class="labels">`)
		esc(r.Labels)
		b.WriteString(`</td><td>`)
		b.WriteString(strconv.FormatFloat(r.Value, 'g', -1, 64))
		b.WriteString(`</td><td>`)
		esc(r.Summary)
		b.WriteString(`</td><td>`)
		esc(r.State)
		b.WriteString(`</td><td title="`)
		esc(r.Since)
		b.WriteString(`">`)
		esc(r.Age)
		b.WriteString(`</td><td class="ack">`)
		esc(r.Ack)
		b.WriteString(`</td><td class="held">`)
		held := r.Silenced
		if held != "" && r.Held != "" {
			held += "; "
		}
		esc(held + r.Held)
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String())
}

func (u *ui) problemsJSON(w http.ResponseWriter, r *http.Request) {
	rows, total := u.problemRows(parseProblemFilter(r.URL.Query()))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// compact: polled every 2 s, maybe with thousands of rows
	_ = json.NewEncoder(w).Encode(map[string]any{"rows": rows, "total": total, "now": u.now().UTC()})
}

// --- alarm

package httpapi

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// The status page: server-rendered html/template from embedded assets,
// plus one small script that polls /problems.json. Every read-only view
// is complete without JavaScript (a NOC screen, a phone, a text browser);
// the script only refreshes the Problems table in place.
//
// Writes (ack, silences) need a login with the API token: a random
// session id in an HttpOnly, SameSite=Strict cookie, kept in memory (a
// restart logs everyone out), and a per-session CSRF token in every form;
// a post without it is refused with 403.

//go:embed ui
var uiFS embed.FS

const (
	sessionCookie = "vedetta_session"
	loginCookie   = "vedetta_login"
	flashCookie   = "vedetta_flash"
	sessionTTL    = 12 * time.Hour
)

type session struct {
	csrf    string
	expires time.Time
}

type ui struct {
	src  Source
	log  *slog.Logger
	tmpl map[string]*template.Template
	now  func() time.Time

	mu       sync.Mutex
	sessions map[string]session
}

var uiFuncs = template.FuncMap{
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now.Sub(t).Round(time.Second).String()
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"labels": labelString,
}

func newUI(src Source, log *slog.Logger) (*ui, error) {
	u := &ui{src: src, log: log, tmpl: map[string]*template.Template{}, now: time.Now, sessions: map[string]session{}}
	for _, page := range []string{"overview", "problems", "alarm", "silences", "login"} {
		t, err := template.New("layout.html").Funcs(uiFuncs).ParseFS(uiFS, "ui/layout.html", "ui/"+page+".html")
		if err != nil {
			return nil, err
		}
		u.tmpl[page] = t
	}
	return u, nil
}

func (u *ui) register(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFS, "ui/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", u.overview)
	mux.HandleFunc("GET /problems", u.problems)
	mux.HandleFunc("GET /problems.json", u.problemsJSON)
	mux.HandleFunc("GET /alarm/{id}", u.alarm)
	mux.HandleFunc("GET /silences", u.silences)
	mux.HandleFunc("GET /login", u.loginPage)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.write(u.logout))
	mux.HandleFunc("POST /alarm/{id}/ack", u.write(u.ack))
	mux.HandleFunc("POST /silences", u.write(u.addSilence))
	mux.HandleFunc("POST /silences/{id}/expire", u.write(u.expireSilence))
}

// page is what every template gets.
type page struct {
	Title    string
	Now      time.Time
	LoggedIn bool
	CSRF     string
	Flash    string
	Error    string
	Data     any
}

func (u *ui) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	u.renderCode(w, r, http.StatusOK, name, title, data)
}

func (u *ui) renderCode(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	p := page{Title: title, Now: u.now(), Data: data}
	// The outcome of the last write, from a one-time cookie (never from
	// the URL: a link could not put words in the page).
	if c, err := r.Cookie(flashCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			kind, msg, _ := strings.Cut(string(b), ":")
			if kind == "ok" {
				p.Flash = msg
			} else {
				p.Error = msg
			}
		}
		http.SetCookie(w, cookie(r, flashCookie, "", -1))
	}
	if s, ok := u.session(r); ok {
		p.LoggedIn, p.CSRF = true, s.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	if err := u.tmpl[name].Execute(w, p); err != nil {
		u.log.Warn("status page render failed", "page", name, "err", err)
	}
}

// --- overview

type count struct {
	Name string
	N    int
}

type overviewData struct {
	ByState    []count
	BySeverity []count
	Targets    []targetClass
	Up, Down   int
	DownNames  []string
	Reload     *Reload
	Cluster    string
	Health     []health // channels, providers, cluster members
}

// health is one vedetta_notification_channel_up, ..._provider_up or
// vedetta_cluster_member_up sample.
type health struct {
	Kind, Name string
	Up         bool
}

type targetClass struct {
	Class    string
	Up, Down int
}

func (u *ui) overview(w http.ResponseWriter, r *http.Request) {
	var o overviewData
	states, sevs := map[string]int{}, map[string]int{}
	for _, a := range u.src.Alarms() {
		states[string(a.State)]++
		if a.State == model.StateFiring || a.State == model.StateStale {
			sevs[a.Severity]++
		}
	}
	for _, s := range []model.State{model.StateFiring, model.StateStale, model.StatePending, model.StateResolved} {
		o.ByState = append(o.ByState, count{string(s), states[string(s)]})
	}
	for _, s := range []string{"critical", "warning", "info"} {
		o.BySeverity = append(o.BySeverity, count{s, sevs[s]})
	}
	classes := map[string]*targetClass{}
	if u.src.Latest != nil {
		u.src.Latest(func(name string, ls model.Labels, v float64, _ time.Time) {
			kind := map[string]string{model.MetricChannelUp: "channel", model.MetricProviderUp: "provider", model.MetricClusterMemberUp: "cluster member"}[name]
			if kind != "" {
				m := make(map[string]string, len(ls))
				for _, l := range ls {
					m[l.Name] = l.Value
				}
				o.Health = append(o.Health, health{Kind: kind, Name: labelString(m), Up: v == 1})
				return
			}
			if name != model.MetricTargetUp {
				return
			}
			var cl, tg string
			for _, l := range ls {
				switch l.Name {
				case "class":
					cl = l.Value
				case "target":
					tg = l.Value
				}
			}
			c := classes[cl]
			if c == nil {
				c = &targetClass{Class: cl}
				classes[cl] = c
			}
			if v == 1 {
				c.Up++
				o.Up++
			} else {
				c.Down++
				o.Down++
				o.DownNames = append(o.DownNames, tg)
			}
		})
	}
	for _, c := range classes {
		o.Targets = append(o.Targets, *c)
	}
	sort.Slice(o.Targets, func(i, j int) bool { return o.Targets[i].Class < o.Targets[j].Class })
	sort.Strings(o.DownNames)
	sort.Slice(o.Health, func(i, j int) bool {
		if o.Health[i].Kind != o.Health[j].Kind {
			return o.Health[i].Kind < o.Health[j].Kind
		}
		return o.Health[i].Name < o.Health[j].Name
	})
	if u.src.Reloads != nil {
		if rl := u.src.Reloads(); !rl.At.IsZero() {
			o.Reload = &rl
		}
	}
	if u.src.Cluster != nil {
		if b, err := json.MarshalIndent(u.src.Cluster(r.Context()), "", "  "); err == nil {
			o.Cluster = string(b)
		}
	}
	u.render(w, r, "overview", "Overview", o)
}

// --- problems

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

type alarmData struct {
	Alarm      model.Alarm
	Labels     string
	Notice     *dispatch.Notice
	Deliveries []dispatch.Delivery
	LedgerErr  string
	Silenced   string
}

func (u *ui) alarm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var ad *alarmData
	for _, a := range u.src.Alarms() {
		if a.ID == id {
			ad = &alarmData{Alarm: a, Labels: labelString(a.Labels)}
			break
		}
	}
	if ad == nil {
		u.renderCode(w, r, http.StatusNotFound, "alarm", "No such alarm", nil)
		return
	}
	if d := u.src.Notifications(); d != nil {
		ad.Notice = d.Notice(id)
		ds, err := d.Deliveries(id)
		if err != nil {
			ad.LedgerErr = err.Error()
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].Created.After(ds[j].Created) })
		ad.Deliveries = ds
		st := amStatus(&ad.Alarm, d.Silences(), ad.Notice, u.now())
		if len(st.SilencedBy) > 0 {
			ad.Silenced = strings.Join(st.SilencedBy, ", ")
		}
	}
	u.render(w, r, "alarm", ad.Alarm.Rule+" on "+ad.Alarm.Labels["target"], ad)
}

// --- silences

type silencesData struct {
	Silences []silenceRow
	Match    string // prefilled from ?match=
}

type silenceRow struct {
	dispatch.Silence
	MatchText string
	State     string
}

func (u *ui) silences(w http.ResponseWriter, r *http.Request) {
	sd := silencesData{Match: r.URL.Query().Get("match")}
	if d := u.src.Notifications(); d != nil {
		now := u.now()
		for _, s := range d.Silences() {
			sd.Silences = append(sd.Silences, silenceRow{Silence: s, MatchText: matchString(s.Match), State: toAMSilence(s, now).Status.State})
		}
	}
	sort.Slice(sd.Silences, func(i, j int) bool { return sd.Silences[i].EndsAt.After(sd.Silences[j].EndsAt) })
	u.render(w, r, "silences", "Silences", sd)
}

// --- login, sessions, CSRF

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (u *ui) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sessions[c.Value]
	if !ok || u.now().After(s.expires) {
		delete(u.sessions, c.Value)
		return session{}, false
	}
	return s, true
}

func cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}

type loginData struct {
	CSRF     string
	Disabled bool
	Next     string
}

// loginPage sets a pre-session cookie whose value the form repeats: the
// login form has its CSRF token too.
func (u *ui) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := randomToken()
	http.SetCookie(w, cookie(r, loginCookie, tok, 600))
	u.render(w, r, "login", "Log in", loginData{CSRF: tok, Disabled: u.src.Token == "", Next: safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.Contains(n, "\\") {
		return "/problems"
	}
	return n
}

func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		u.log.Warn("status page login refused: missing CSRF token", "remote", r.RemoteAddr)
		http.Error(w, "403 forbidden: missing or wrong CSRF token (reload the login page)", http.StatusForbidden)
		return
	}
	if u.src.Token == "" {
		http.Error(w, "403 forbidden: writes are disabled (set http.token_file in the config)", http.StatusForbidden)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(u.src.Token)) != 1 {
		u.log.Warn("status page login refused: wrong token", "remote", r.RemoteAddr)
		u.renderCode(w, r, http.StatusUnauthorized, "login", "Log in", loginData{CSRF: c.Value, Next: safeNext(r.PostFormValue("next"))})
		return
	}
	id := randomToken()
	now := u.now()
	u.mu.Lock()
	for k, s := range u.sessions {
		if now.After(s.expires) {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = session{csrf: randomToken(), expires: now.Add(sessionTTL)}
	u.mu.Unlock()
	http.SetCookie(w, cookie(r, sessionCookie, id, int(sessionTTL/time.Second)))
	http.SetCookie(w, cookie(r, loginCookie, "", -1))
	u.log.Info("status page login", "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// write guards a form post: a session, and its CSRF token in the form.
func (u *ui) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		s, ok := u.session(r)
		if !ok {
			http.Error(w, "403 forbidden: log in first (/login)", http.StatusForbidden)
			return
		}
		if subtle.ConstantTimeCompare([]byte(s.csrf), []byte(r.PostFormValue("csrf"))) != 1 {
			u.log.Warn("status page write refused: missing or wrong CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "403 forbidden: missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if u.src.Notifications() == nil && r.URL.Path != "/logout" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		u.mu.Lock()
		delete(u.sessions, c.Value)
		u.mu.Unlock()
	}
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// back redirects to the page the form was on, with the outcome in a
// one-time cookie.
func back(w http.ResponseWriter, r *http.Request, to, ok string, err error) {
	msg := "ok:" + ok
	if err != nil {
		msg = "err:" + err.Error()
	}
	http.SetCookie(w, cookie(r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (u *ui) ack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var ttl time.Duration
	if v := r.PostFormValue("ttl"); v != "" {
		var err error
		if ttl, err = config.ParseDuration(v); err != nil || ttl <= 0 {
			back(w, r, "/alarm/"+id, "", errors.New("for: want e.g. 4h"))
			return
		}
	}
	by := strings.TrimSpace(r.PostFormValue("by"))
	if by == "" {
		by = "web"
	}
	_, err := u.src.Notifications().Ack(id, by, r.PostFormValue("comment"), ttl)
	back(w, r, "/alarm/"+id, "acknowledged", err)
}

func (u *ui) addSilence(w http.ResponseWriter, r *http.Request) {
	m := map[string]string{}
	for _, kv := range strings.FieldsFunc(r.PostFormValue("match"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			back(w, r, "/silences", "", fmt.Errorf("matcher %q: want LABEL=VALUE", kv))
			return
		}
		m[k] = strings.Trim(v, `"`)
	}
	if len(m) == 0 {
		back(w, r, "/silences", "", errors.New("at least one LABEL=VALUE matcher is needed"))
		return
	}
	dur, err := config.ParseDuration(r.PostFormValue("duration"))
	if err != nil || dur <= 0 {
		back(w, r, "/silences", "", errors.New("duration: want e.g. 2h"))
		return
	}
	by := strings.TrimSpace(r.PostFormValue("by"))
	if by == "" {
		by = "web"
	}
	now := u.now()
	s, err := u.src.Notifications().AddSilence(m, now, now.Add(dur), r.PostFormValue("comment"), by)
	back(w, r, "/silences", "silence "+s.ID+" added", err)
}

func (u *ui) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	back(w, r, "/silences", "silence "+id+" expired", u.src.Notifications().ExpireSilence(id))
}

// alarmMatches is labelsMatch(m, amLabels(a)) without the copy.
func alarmMatches(m map[string]string, a *model.Alarm) bool {
	for k, v := range m {
		got := a.Labels[k]
		switch k {
		case "alertname":
			got = a.Rule
		case "severity":
			got = a.Severity
		}
		if got != v {
			return false
		}
	}
	return true
}

// labelString is an alarm's k=v pairs, sorted, without target and class
// (shown apart).
func labelString(ls map[string]string) string { return pairs(ls, true) }

// plain reports whether strconv.Quote(v) would only add the quotes.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// matchString is a silence's matchers.
func matchString(m map[string]string) string { return pairs(m, false) }

func pairs(ls map[string]string, skipTarget bool) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		if !skipTarget || (k != "target" && k != "class") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		n += len(k) + len(ls[k]) + 4
	}
	var b strings.Builder
	b.Grow(n)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v := ls[k]; plain(v) {
			b.WriteByte('"')
			b.WriteString(v)
			b.WriteByte('"')
		} else {
			b.WriteString(strconv.Quote(v))
		}
	}
	return b.String()
}

package httpapi

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
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
	"hasPrefix": strings.HasPrefix,
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
	for _, page := range []string{"overview", "problems", "alarm", "silences", "login", "room", "target", "history"} {
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
	mux.HandleFunc("GET /{$}", u.read(u.overview))
	mux.HandleFunc("GET /problems", u.read(u.problems))
	mux.HandleFunc("GET /problems.json", u.read(u.problemsJSON))
	mux.HandleFunc("GET /alarm/{id}", u.read(u.alarm))
	mux.HandleFunc("GET /silences", u.read(u.silences))
	mux.HandleFunc("GET /room", u.read(u.room))
	mux.HandleFunc("GET /history", u.read(u.history))
	mux.HandleFunc("GET /target/{name}", u.read(u.target))
	mux.HandleFunc("GET /login", u.loginPage)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.write(u.logout))
	mux.HandleFunc("POST /alarm/{id}/ack", u.write(u.ack))
	mux.HandleFunc("POST /alarm/{id}/unack", u.write(u.unack))
	mux.HandleFunc("POST /silences", u.write(u.addSilence))
	mux.HandleFunc("POST /silences/{id}/expire", u.write(u.expireSilence))
}

// read lets a read-only view through, or, with http.ui_auth: always and
// no session, sends the browser to the login page first.
func (u *ui) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u.src.UIAlways {
			if _, ok := u.session(r); !ok {
				if strings.HasSuffix(r.URL.Path, ".json") {
					http.Error(w, "log in first (http.ui_auth: always)", http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
		}
		h(w, r)
	}
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
			sd.Silences = append(sd.Silences, silenceRow{Silence: s, MatchText: s.String(), State: toAMSilence(s, now).Status.State})
		}
	}
	sort.Slice(sd.Silences, func(i, j int) bool { return sd.Silences[i].EndsAt.After(sd.Silences[j].EndsAt) })
	u.render(w, r, "silences", "Silences", sd)
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

package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// The page's writes: login with the API token, an in-memory session
// (HttpOnly, SameSite=Strict cookie) and a CSRF token on every form; then
// ack and silences.

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

func (u *ui) unack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	by := strings.TrimSpace(r.PostFormValue("by"))
	if by == "" {
		by = "web"
	}
	_, err := u.src.Notifications().Unack(id, by)
	back(w, r, "/alarm/"+id, "acknowledgement withdrawn", err)
}

func (u *ui) addSilence(w http.ResponseWriter, r *http.Request) {
	var m dispatch.Matchers
	for _, kv := range strings.FieldsFunc(r.PostFormValue("match"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
		x, err := dispatch.ParseMatcher(kv)
		if err != nil {
			back(w, r, "/silences", "", err)
			return
		}
		m = append(m, x)
	}
	if len(m) == 0 {
		back(w, r, "/silences", "", errors.New("at least one matcher is needed: LABEL=VALUE, LABEL=~REGEX, LABEL!=VALUE"))
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

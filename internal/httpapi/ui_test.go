package httpapi

import (
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/model"
)

// farm is n firing alarms over targets, a real dispatcher (bbolt store)
// holding one silence.
func farm(tb testing.TB, alarms, targets int) (Source, *dispatch.Dispatcher) {
	tb.Helper()
	st, err := store.OpenBolt(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	disp, err := dispatch.NewDispatcher(st, config.Builtin(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if _, err := disp.AddSilence(dispatch.Equal(map[string]string{"target": "t7"}), now, now.Add(time.Hour), "maintenance", "tester"); err != nil {
		tb.Fatal(err)
	}
	sevs := []string{"critical", "warning", "info"}
	as := make([]model.Alarm, alarms)
	for i := range as {
		ls := map[string]string{"target": fmt.Sprintf("t%d", i%targets), "class": "snmp", "room": fmt.Sprintf("r%d", i%7), "ifName": fmt.Sprintf("ge-0/0/%d", i)}
		as[i] = model.Alarm{ID: model.AlarmID("R", ls), Rule: fmt.Sprintf("Rule%d", i%20), Labels: ls, State: model.StateFiring,
			Severity: sevs[i%3], Value: float64(i), Summary: "link down on " + ls["ifName"], FiringAt: now.Add(-time.Duration(i) * time.Second)}
	}
	src := Source{
		Alarms: func() []model.Alarm { return as },
		Latest: func(fn func(string, model.Labels, float64, time.Time)) {
			self := model.Labels{{Name: "class", Value: "self"}, {Name: "target", Value: "vedetta"}}
			fn(model.MetricChannelUp, append(model.Labels{{Name: "channel", Value: "email"}}, self...), 1, now)
			fn(model.MetricChannelUp, append(model.Labels{{Name: "channel", Value: "sms"}}, self...), 0, now)
			for i := range targets {
				up := 1.0
				if i%10 == 0 {
					up = 0
				}
				fn(model.MetricTargetUp, model.Labels{{Name: "class", Value: "snmp"}, {Name: "target", Value: fmt.Sprintf("t%d", i)}}, up, now)
			}
		},
		Notifications: func() Notifications { return disp },
		Token:         "s3cret-token",
	}
	return src, disp
}

func startUI(t *testing.T, src Source) *httptest.Server {
	t.Helper()
	s, err := New("127.0.0.1:0", src, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	ts := httptest.NewServer(s.srv.Handler)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The pages render without JavaScript; writes need a login and the CSRF
// token of the session; the token never appears in a page.
func TestStatusPageLoginAndCSRF(t *testing.T) {
	src, disp := farm(t, 30, 10)
	ts := startUI(t, src)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	code, body := get(t, c, ts.URL+"/")
	if code != 200 || !strings.Contains(body, `9 up</span> · <span class="down">1 down`) || !strings.Contains(body, ">critical</a></th><td>10<") {
		t.Fatalf("overview: %d\n%s", code, body)
	}
	if !strings.Contains(body, `<th>channel</th><td>channel=&#34;email&#34;</td><td><span class="up">up`) ||
		!strings.Contains(body, `<th>channel</th><td>channel=&#34;sms&#34;</td><td><span class="down">down`) {
		t.Errorf("overview lacks the channels' health:\n%s", body)
	}
	code, body = get(t, c, ts.URL+"/problems?severity=critical&label=room%3Dr0")
	if code != 200 || strings.Count(body, `<tr class="sev-critical"`) == 0 || strings.Contains(body, `sev-warning" data-id`) ||
		strings.Contains(body, `room=&#34;r1&#34;`) {
		t.Fatalf("problems filtered: %d\n%s", code, body)
	}
	if _, body := get(t, c, ts.URL+"/problems?label=target%3Dt7"); strings.Count(body, "<tr class=") != 3 {
		t.Errorf("label=target=t7: %d rows, want 3", strings.Count(body, "<tr class="))
	}
	if _, body := get(t, c, ts.URL+"/problems?label=target%3Dt7+room%3D%22r0%22"); strings.Count(body, "<tr class=") != 1 {
		t.Errorf("label=target=t7 room=\"r0\": %d rows, want 1", strings.Count(body, "<tr class="))
	}
	if _, body := get(t, c, ts.URL+"/problems?label=target%3Dt7"); !strings.Contains(body, "silenced by ") || strings.Contains(body, ">t6<") {
		t.Errorf("the silence on t7 is not shown:\n%s", body)
	}
	// Not logged in: no form, and a post is refused.
	r, err := c.PostForm(ts.URL+"/silences", url.Values{"match": {"target=t1"}, "duration": {"1h"}})
	if err != nil || r.StatusCode != 403 {
		t.Fatalf("post without a session: %v %v", err, r.StatusCode)
	}
	// Log in: the login form has its own CSRF token.
	_, body = get(t, c, ts.URL+"/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the login form:\n%s", body)
	}
	if r, _ := c.PostForm(ts.URL+"/login", url.Values{"token": {"s3cret-token"}}); r.StatusCode != 403 {
		t.Fatalf("login without CSRF: %d", r.StatusCode)
	}
	if r, _ := c.PostForm(ts.URL+"/login", url.Values{"token": {"wrong"}, "csrf": {m[1]}}); r.StatusCode != 401 {
		t.Fatalf("login with a wrong token: %d", r.StatusCode)
	}
	r, err = c.PostForm(ts.URL+"/login", url.Values{"token": {"s3cret-token"}, "csrf": {m[1]}, "next": {"/silences"}})
	if err != nil || r.StatusCode != 200 || r.Request.URL.Path != "/silences" {
		t.Fatalf("login: %v %v", err, r)
	}
	for _, ck := range jar.Cookies(r.Request.URL) {
		if ck.Name == sessionCookie && (ck.Value == "" || ck.Value == "s3cret-token") {
			t.Fatalf("session cookie %q", ck.Value)
		}
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m = csrfRE.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no CSRF token in the silence form:\n%s", b)
	}
	// Logged in, but no CSRF token: 403; with it, the silence is made.
	if r, _ := c.PostForm(ts.URL+"/silences", url.Values{"match": {"target=t1"}, "duration": {"1h"}}); r.StatusCode != 403 {
		t.Fatalf("post without CSRF: %d", r.StatusCode)
	}
	if r, _ := c.PostForm(ts.URL+"/silences", url.Values{"match": {"target=t1"}, "duration": {"1h"}, "csrf": {"x" + m[1]}}); r.StatusCode != 403 {
		t.Fatalf("post with a wrong CSRF token: %d", r.StatusCode)
	}
	if n := len(disp.Silences()); n != 1 {
		t.Fatalf("%d silences after refused posts", n)
	}
	r, _ = c.PostForm(ts.URL+"/silences", url.Values{"match": {"target=t1 room=r1"}, "duration": {"1h"}, "comment": {"patch"}, "csrf": {m[1]}})
	fb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !regexp.MustCompile(`id="flash">silence \w+ added`).Match(fb) {
		t.Fatalf("silence post: %d %s\n%s", r.StatusCode, r.Request.URL, fb)
	}
	if _, body := get(t, c, ts.URL+"/silences"); strings.Contains(body, `id="flash"`) {
		t.Error("the flash shows twice")
	}
	if _, body := get(t, c, ts.URL+"/silences?ok=go+to+evil.example&err=x"); strings.Contains(body, "evil.example") || strings.Contains(body, `id="error"`) {
		t.Error("a link puts words in the page")
	}
	var got *dispatch.Silence
	for _, s := range disp.Silences() {
		if s.Match["target"] == "t1" {
			got = &s
		}
	}
	if got == nil || got.Match["room"] != "r1" || got.Comment != "patch" {
		t.Fatalf("silence made: %+v", got)
	}
	// Another client's cookie jar (a forged cross-site post carries no
	// session: SameSite=Strict) is refused even with the CSRF value.
	if r, _ := http.PostForm(ts.URL+"/silences/"+got.ID+"/expire", url.Values{"csrf": {m[1]}}); r.StatusCode != 403 {
		t.Fatalf("expire without the session: %d", r.StatusCode)
	}
	r, _ = c.PostForm(ts.URL+"/silences/"+got.ID+"/expire", url.Values{"csrf": {m[1]}})
	if r.StatusCode != 200 {
		t.Fatalf("expire: %d", r.StatusCode)
	}
	for _, s := range disp.Silences() {
		if s.ID == got.ID && s.Active(time.Now()) {
			t.Fatal("the silence is still active after expire")
		}
	}
	for _, p := range []string{"/", "/problems", "/silences", "/login", "/problems.json"} {
		if _, body := get(t, c, ts.URL+p); strings.Contains(body, "s3cret-token") {
			t.Errorf("%s shows the token", p)
		}
	}
}

func TestProblemsJSONSortedBySeverityThenAge(t *testing.T) {
	src, _ := farm(t, 60, 10)
	ts := startUI(t, src)
	_, body := get(t, http.DefaultClient, ts.URL+"/problems.json")
	// critical rows first, the oldest first among them.
	first := strings.Index(body, `"severity":"warning"`)
	last := strings.LastIndex(body, `"severity":"critical"`)
	if first < 0 || last < 0 || last > first {
		t.Fatalf("not sorted by severity:\n%.2000s", body)
	}
	rows, total := (&ui{src: src, now: time.Now}).problemRows(problemFilter{})
	if total != 60 || len(rows) != 60 {
		t.Fatalf("%d rows of %d", len(rows), total)
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if sevRank(a.Severity) > sevRank(b.Severity) || a.Severity == b.Severity && a.since.After(b.since) {
			t.Fatalf("row %d (%s %v) before row %d (%s %v)", i-1, a.Severity, a.since, i, b.Severity, b.since)
		}
	}
}

// BenchmarkProblemsRender is the server's time for the Problems view
// with 5,000 firing alarms on 1,000 targets (goal: < 50 ms).
func BenchmarkProblemsRender(b *testing.B) {
	src, _ := farm(b, 5000, 1000)
	u, err := newUI(src, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/problems", nil)
	cpu0 := cpuTime()
	for b.Loop() {
		w := &countingWriter{h: http.Header{}}
		u.problems(w, req)
		if w.code != 200 || w.n < 5000*100 {
			b.Fatalf("render: %d, %d bytes", w.code, w.n)
		}
	}
	// CPU time (this process, GC included) per render: on a shared
	// machine the wall time also counts the other processes' turns.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingWriter is a ResponseWriter that keeps nothing: the benchmarks
// measure the server's work, not a buffer growing to megabytes.
type countingWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(c int)   { w.code = c }
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	w.n += len(p)
	return len(p), nil
}

// BenchmarkOverviewRender is the same farm's Overview.
func BenchmarkOverviewRender(b *testing.B) {
	src, _ := farm(b, 5000, 1000)
	u, err := newUI(src, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	for b.Loop() {
		w := httptest.NewRecorder()
		u.overview(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkProblemsJSON is what the page polls every 2 s, same farm.
func BenchmarkProblemsJSON(b *testing.B) {
	src, _ := farm(b, 5000, 1000)
	u, err := newUI(src, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/problems.json", nil)
	for b.Loop() {
		w := &countingWriter{h: http.Header{}}
		u.problemsJSON(w, req)
		if w.code != 200 || w.n < 5000*100 {
			b.Fatalf("%d, %d bytes", w.code, w.n)
		}
	}
}

// problemsBody escapes every value as html/template does.
func TestProblemsBodyEscapes(t *testing.T) {
	evil := `<script>alert('x')</script> & "q"` + "\x00"
	body := string(problemsBody([]problemRow{{ID: evil, Severity: evil, Rule: evil, Target: evil, Labels: evil, Summary: evil,
		State: evil, Since: evil, Age: evil, Ack: evil, Silenced: evil, Held: evil}}))
	if strings.Contains(body, "<script") || strings.Contains(body, "'x'") || strings.Contains(body, "\x00") {
		t.Fatalf("not escaped:\n%s", body)
	}
	want := template.HTMLEscapeString(evil)
	if n := strings.Count(body, want); n < 10 {
		t.Fatalf("%d values escaped as html/template does (%q), want 10 or more:\n%s", n, want, body)
	}
}

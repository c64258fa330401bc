package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// browser starts a headless Debian chromium with a fresh profile (see
// ../shared/RIG.md section 13). A missing chromium skips, or fails under
// CI=true.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testpeer.Need(t, "/usr/bin/chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first Run starts the browser: no timeout on its context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("chromium does not start: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: $VEDETTA_ARTIFACTS, else the test's
// temporary folder.
func artifacts(t *testing.T) string {
	if d := os.Getenv("VEDETTA_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// The status page in a real browser: the alarm appears on Problems
// without a reload, the alarm page shows the delivered e-mail in its
// ledger, a login with the token allows an ack and a silence from the
// page, and a post without the CSRF token is refused.
func TestE2EBrowserStatusPage(t *testing.T) {
	t.Parallel()
	bctx := browser(t)
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(mp.SMTPPort))
	cfg := strings.Replace(c.yaml(), "http:\n", "http:\n  token: "+apiToken+"\n", 1)
	path := filepath.Join(c.Dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	d := startDaemon(t, path, c.HTTPPort)
	art := artifacts(t)

	step := func(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG (below: JPEG)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(art, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}

	// Problems, open before the alarm fires; a marker in the page tells a
	// reload (which would drop it) from an in-place refresh.
	step("open problems", 10*time.Second, chromedp.Navigate(d.http+"/problems"), chromedp.WaitVisible(chromedp.CSS("#problems")))
	eval("window.vedettaMarker = 42")
	if strings.Contains(text("#problems"), "RackTooHot") {
		t.Fatal("the alarm is listed before it fires")
	}
	writeFile(t, c.ValueFile, "rack_temperature_celsius 41.5\n")
	testpeer.WaitFor(t, 6*time.Second, "the alarm firing (API)", func() bool { return d.alertState("RackTooHot") == "firing" })
	fired := time.Now()
	testpeer.WaitFor(t, 5*time.Second, "the alarm on Problems without a reload", func() bool {
		return strings.Contains(text("#problems"), "RackTooHot")
	})
	t.Logf("on Problems %v after the API said firing", time.Since(fired).Round(time.Millisecond))
	if eval("window.vedettaMarker || 0") != 42 {
		t.Fatal("the page was reloaded")
	}
	if row := text("#problems"); !strings.Contains(row, "rack1") || !strings.Contains(row, "rack rack1 at 41.5") || !strings.Contains(row, "critical") {
		t.Errorf("problems row: %q", row)
	}
	shot("problems")

	// Overview counts it.
	step("overview", 10*time.Second, chromedp.Navigate(d.http+"/"), chromedp.WaitVisible(chromedp.CSS("#by-severity")))
	if s := strings.Join(strings.Fields(text("#by-severity")), " "); !strings.Contains(s, "critical 1") {
		t.Errorf("overview by severity: %q", s)
	}
	if s := text("#targets"); !strings.Contains(s, "1 up") {
		t.Errorf("overview targets: %q", s)
	}
	shot("overview")

	// The alarm page: the ledger row of the delivered e-mail.
	testpeer.WaitFor(t, 5*time.Second, "the firing e-mail", func() bool { return len(mp.Matching(t, "FIRING", "RackTooHot")) > 0 })
	var id string
	for _, a := range d.alerts() {
		if a.Rule == "RackTooHot" {
			id = a.ID
		}
	}
	testpeer.WaitFor(t, 5*time.Second, "the ledger row delivered", func() bool {
		step("alarm page", 10*time.Second, chromedp.Navigate(d.http+"/alarm/"+id), chromedp.WaitVisible(chromedp.CSS("#ledger")))
		l := text("#ledger")
		return strings.Contains(l, "delivered") && strings.Contains(l, "noc@e2e.example") && strings.Contains(l, "email")
	})
	shot("alarm")
	if n := eval(`document.querySelectorAll("#ack-form").length`); n != 0 {
		t.Fatal("the ack form is shown before logging in")
	}

	// Log in with the token, acknowledge.
	step("log in", 10*time.Second,
		chromedp.Navigate(d.http+"/login?next=/alarm/"+id),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=token]`), apiToken),
		chromedp.Click(chromedp.CSS(`#login-form button`)),
		chromedp.WaitVisible(chromedp.CSS("#ack-form")))
	step("acknowledge", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#ack-form input[name=by]`), "tester"),
		chromedp.SendKeys(chromedp.CSS(`#ack-form input[name=comment]`), "on it"),
		chromedp.Click(chromedp.CSS(`#ack-form button`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if s := text("#ack"); !strings.Contains(s, "by tester") || !strings.Contains(s, "on it") {
		t.Fatalf("ack on the alarm page: %q", s)
	}
	shot("alarm-acked")
	// Withdraw it: the page says none, and keeps what the ack said.
	step("withdraw the ack", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#unack-form input[name=by]`), "tester2"),
		chromedp.Click(chromedp.CSS(`#unack-form button`)),
		// The old page shows a flash too: wait for the new one, which has
		// no withdraw form (nothing is acknowledged any more).
		chromedp.WaitNotPresent(chromedp.CSS("#unack-form")),
		chromedp.WaitVisible(chromedp.CSS("#ack")))
	if s := text("#ack"); !strings.HasPrefix(s, "none") || !strings.Contains(s, "tester2") || !strings.Contains(s, "on it") {
		t.Fatalf("the alarm page after withdrawing the ack: %q", s)
	}

	// Silence it from the page (the link prefills the matchers).
	step("silence", 10*time.Second,
		chromedp.Click(chromedp.CSS("#silence-link")),
		chromedp.WaitVisible(chromedp.CSS("#silence-form")),
		chromedp.SendKeys(chromedp.CSS(`#silence-form input[name=comment]`), "browser maintenance"),
		chromedp.Click(chromedp.CSS(`#silence-form button`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if s := text("#silences"); !strings.Contains(s, "browser maintenance") || !strings.Contains(s, `alertname="RackTooHot"`) {
		t.Fatalf("silences page: %q", s)
	}
	shot("silences")

	// The room: rack1's tile, red for its critical alarm, leads to its
	// page with the reading in °C.
	step("room", 10*time.Second, chromedp.Navigate(d.http+"/room"), chromedp.WaitVisible(chromedp.CSS(".grid")))
	if n := eval(`document.querySelectorAll(".cell.w-critical a[href='/target/rack1']").length`); n != 1 {
		t.Fatalf("the room has no critical tile for rack1: %q", text(".grid"))
	}
	shot("room")
	step("target page", 10*time.Second, chromedp.Click(chromedp.CSS(".cell.w-critical a")), chromedp.WaitVisible(chromedp.CSS("#samples")))
	if s := text("#samples"); !strings.Contains(s, "rack_temperature_celsius") || !strings.Contains(s, "41.5 °C") {
		t.Fatalf("rack1's page: %q", s)
	}
	if s := text("#target-alarms"); !strings.Contains(s, "RackTooHot") {
		t.Fatalf("rack1's page lacks its alarm: %q", s)
	}
	// The history: the firing, and the e-mail that told of it.
	step("history", 10*time.Second, chromedp.Navigate(d.http+"/history?target=rack1"), chromedp.WaitVisible(chromedp.CSS("#history")))
	if s := text("#history"); !strings.Contains(s, "RackTooHot on rack1") || !strings.Contains(s, "firing") || !strings.Contains(s, "delivered") {
		t.Fatalf("history: %q", s)
	}
	shot("history")
	step("alarm page again", 10*time.Second, chromedp.Navigate(d.http+"/alarm/"+id), chromedp.WaitVisible(chromedp.CSS("#silenced")))
	if s := text("#silenced"); !strings.Contains(s, "silenced by") {
		t.Fatalf("the alarm is not marked silenced: %q", s)
	}
	step("problems again", 10*time.Second, chromedp.Navigate(d.http+"/problems"), chromedp.WaitVisible(chromedp.CSS("#problems")))
	if s := text("#problems"); !strings.Contains(s, "silenced by") {
		t.Errorf("Problems does not mark the alarm silenced: %q", s)
	}

	// A form post without the CSRF token, from the logged-in page (its
	// session cookie goes along): 403, and nothing changes.
	status := eval(`fetch("/silences", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "match=target%3Drack1&duration=1h&comment=forged"}).then(r => r.status)`)
	if status != 403 {
		t.Fatalf("a post without the CSRF token answered %d, want 403", status)
	}
	status = eval(`fetch("/alarm/` + id + `/ack", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "by=forger"}).then(r => r.status)`)
	if status != 403 {
		t.Fatalf("an ack without the CSRF token answered %d, want 403", status)
	}
	_, body := d.get("/api/v1/silences")
	var sils []struct{ Comment string }
	if err := json.Unmarshal([]byte(body), &sils); err != nil || len(sils) != 1 || sils[0].Comment != "browser maintenance" {
		t.Fatalf("silences after the forged post: %v %s", err, body)
	}
	if strings.Contains(d.proc.Output(), apiToken) {
		t.Error("the token appears in the log")
	}
	t.Logf("screenshots in %s", art)
}

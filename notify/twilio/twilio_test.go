package twilio

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/notify"
)

// newProvider points a provider at tw with test-speed timings; edit
// adjusts the config.
func newProvider(t *testing.T, tw *testpeer.Twilio, name string, edit func(*Config)) (*Provider, *testpeer.Buffer) {
	t.Helper()
	cfg := Config{
		AccountSID: tw.AccountSID, AuthToken: config.Secret(tw.AuthToken), From: "+15550001111",
		APIURL: tw.URL(), Timeout: 2 * time.Second, StatusTimeout: 2 * time.Second, StatusPoll: 50 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	logs := &testpeer.Buffer{}
	p, err := New(name, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return p, logs
}

func testMessage(to string) notify.Message {
	return notify.Message{Key: "k-1", AlarmID: "ab12cd", Event: "firing", Severity: "critical", Recipient: to,
		Subject: "[vedetta dc1] FIRING critical: ups_on_battery on ups-b: on battery [ab12cd]", Body: "long body"}
}

func TestSendDelivered(t *testing.T) {
	// TWILIO_EDGE/REGION would make twilio-go rewrite the host; the
	// provider must not care.
	t.Setenv("TWILIO_EDGE", "sydney")
	t.Setenv("TWILIO_REGION", "au1")
	tests := []struct {
		name     string
		from     string
		service  string
		wantFrom string
		wantMG   string
	}{
		{"from number", "+15550001111", "", "+15550001111", ""},
		{"messaging service", "", "MG0123456789abcdef0123456789abcdef", "", "MG0123456789abcdef0123456789abcdef"},
		{"both", "+15550002222", "MG0123456789abcdef0123456789abcdef", "+15550002222", "MG0123456789abcdef0123456789abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			p, logs := newProvider(t, tw, "twilio-main", func(c *Config) { c.From, c.MessagingServiceSID = tc.from, tc.service })
			m := testMessage("+393331234567")
			if err := p.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := tw.Messages()
			if len(got) != 1 {
				t.Fatalf("server has %d messages, want 1", len(got))
			}
			g := got[0]
			if g.To != m.Recipient || g.From != tc.wantFrom || g.MessagingServiceSID != tc.wantMG || g.Body != SMSText(m) {
				t.Errorf("server got %+v", g)
			}
			if g.Status != "delivered" || g.Fetches != 2 {
				t.Errorf("status %q after %d fetches, want delivered after 2", g.Status, g.Fetches)
			}
			if !strings.Contains(logs.String(), "twilio message delivered") || !strings.Contains(logs.String(), g.SID) {
				t.Errorf("no delivery log line naming %s:\n%s", g.SID, logs)
			}
			if strings.Contains(logs.String(), tw.AuthToken) {
				t.Error("the auth token was logged")
			}
		})
	}
}

func TestSendCreateErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int // FailCreate; 0 = none
		code      int
		to        string
		token     string // "" = the right one
		permanent bool
		contains  string
	}{
		{name: "500 without a Twilio document", status: 500, permanent: false, contains: "500"},
		{name: "503 with code", status: 503, code: 20503, permanent: false, contains: "503"},
		{name: "429 rate limited", status: 429, code: 20429, permanent: false, contains: "429"},
		{name: "400 invalid number (told)", status: 400, code: 21211, permanent: true, contains: "21211"},
		{name: "400 invalid number (real validation)", to: "12345", permanent: true, contains: "21211"},
		{name: "401 wrong token", token: "wrongtoken123", permanent: true, contains: "20003"},
		{name: "403 forbidden", status: 403, code: 20403, permanent: true, contains: "403"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			if tc.status != 0 {
				tw.FailCreate(tc.status, tc.code)
			}
			p, _ := newProvider(t, tw, "twilio-main", func(c *Config) {
				if tc.token != "" {
					c.AuthToken = config.Secret(tc.token)
				}
			})
			to := "+393331234567"
			if tc.to != "" {
				to = tc.to
			}
			err := p.Send(context.Background(), testMessage(to))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if notify.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent=%v, want %v: %v", notify.IsPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
			if len(tw.Messages()) != 0 {
				t.Errorf("server accepted %d messages", len(tw.Messages()))
			}
		})
	}
}

func TestSendFollowsStatus(t *testing.T) {
	tests := []struct {
		name      string
		final     string
		code      []int
		statusTO  time.Duration
		wantErr   string // "" = success
		wantLog   string
		minElapse time.Duration
	}{
		{name: "delivered", final: "delivered", wantLog: "twilio message delivered"},
		{name: "undelivered", final: "undelivered", wantErr: "Twilio error 30003"},
		{name: "failed with carrier filtering", final: "failed", code: []int{30007}, wantErr: "Twilio error 30007"},
		{name: "still sent at status_timeout", final: "sent", statusTO: 400 * time.Millisecond,
			wantLog: "delivery not confirmed within status_timeout", minElapse: 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			tw.FinalStatus(tc.final, tc.code...)
			p, logs := newProvider(t, tw, "twilio-main", func(c *Config) {
				if tc.statusTO != 0 {
					c.StatusTimeout = tc.statusTO
				}
			})
			start := time.Now()
			err := p.Send(context.Background(), testMessage("+393331234567"))
			elapsed := time.Since(start)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			} else {
				if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), tc.wantErr) ||
					!strings.Contains(err.Error(), tc.final) {
					t.Fatalf("want a permanent error naming %q and %q, got %v", tc.final, tc.wantErr, err)
				}
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs)
			}
			if elapsed < tc.minElapse || elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if msgs := tw.Messages(); len(msgs) != 1 || msgs[0].Status != tc.final {
				t.Errorf("server messages %+v", msgs)
			}
		})
	}
}

func TestSendHungServer(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration // provider timeout
		ctxAfter time.Duration // caller's deadline
		within   time.Duration
	}{
		{"provider timeout", 300 * time.Millisecond, time.Minute, 1200 * time.Millisecond},
		{"caller deadline", 30 * time.Second, 300 * time.Millisecond, 1200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			tw.Delay(time.Minute)
			p, logs := newProvider(t, tw, "twilio-main", func(c *Config) { c.Timeout = tc.timeout })
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctxAfter)
			defer cancel()
			start := time.Now()
			err := p.Send(ctx, testMessage("+393331234567"))
			elapsed := time.Since(start)
			if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a temporary deadline error, got %v", err)
			}
			if elapsed > tc.within {
				t.Errorf("Send returned after %v, want within %v", elapsed, tc.within)
			}
			if !strings.Contains(logs.String(), "may have been accepted") {
				t.Errorf("no warning about a possible duplicate:\n%s", logs)
			}
			// The abandoned call ends with its context: no goroutine stays.
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines, %d before Send:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
			if tw.Attempts() != 0 {
				t.Errorf("server counted %d creates, want 0 (still delayed)", tw.Attempts())
			}
		})
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		sid     string
		token   string
		delay   time.Duration
		wantErr string
	}{
		{name: "healthy"},
		{name: "wrong token", token: "wrongtoken123", wantErr: "20003"},
		{name: "wrong account", sid: "AC00000000000000000000000000000000", wantErr: "401"},
		{name: "hung", delay: time.Minute, wantErr: "no answer in time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			tw.Delay(tc.delay)
			p, _ := newProvider(t, tw, "twilio-main", func(c *Config) {
				c.Timeout = 300 * time.Millisecond
				if tc.token != "" {
					c.AuthToken = config.Secret(tc.token)
				}
				if tc.sid != "" {
					c.AccountSID = tc.sid
				}
			})
			err := p.Probe(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	good := Config{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "abc123", From: "+15550001111"}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "defaults"},
		{name: "messaging service only", edit: func(c *Config) { c.From, c.MessagingServiceSID = "", "MGabc" }},
		{name: "sid without AC", edit: func(c *Config) { c.AccountSID = "SK123" }, wantErr: "account_sid"},
		{name: "empty sid", edit: func(c *Config) { c.AccountSID = "" }, wantErr: "account_sid"},
		{name: "no token", edit: func(c *Config) { c.AuthToken = "" }, wantErr: "auth_token: required"},
		{name: "token with dashes", edit: func(c *Config) { c.AuthToken = "abc-123" }, wantErr: "letters and digits"},
		{name: "no sender", edit: func(c *Config) { c.From = "" }, wantErr: "from or messaging_service_sid"},
		{name: "bad service sid", edit: func(c *Config) { c.MessagingServiceSID = "XX1" }, wantErr: "MG"},
		{name: "api_url not http", edit: func(c *Config) { c.APIURL = "ftp://127.0.0.1" }, wantErr: "api_url"},
		{name: "api_url unparsable", edit: func(c *Config) { c.APIURL = "http://[::1" }, wantErr: "api_url"},
		{name: "api_url without host", edit: func(c *Config) { c.APIURL = "http://" }, wantErr: "api_url"},
		{name: "negative timeout", edit: func(c *Config) { c.Timeout = -time.Second }, wantErr: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			p, err := New("sms1", cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
				}
				if strings.Contains(err.Error(), "abc-123") {
					t.Errorf("error reveals the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != "sms1" || p.target.String() != DefaultAPIURL || p.timeout != DefaultTimeout ||
				p.statusTimeout != DefaultStatusTimeout || p.statusPoll != DefaultStatusPoll {
				t.Errorf("defaults not applied: %s %s %v %v %v", p.Name(), p.target, p.timeout, p.statusTimeout, p.statusPoll)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	tests := []struct {
		name      string
		breakMain func(*testpeer.Twilio)
		mainState string // status of the message main accepted; "" = none accepted
	}{
		{"main answers 500", func(tw *testpeer.Twilio) { tw.FailCreate(500, 0) }, ""},
		{"main rejects the number", func(tw *testpeer.Twilio) { tw.FailCreate(400, 21211) }, ""},
		{"main accepts but undelivered", func(tw *testpeer.Twilio) { tw.FinalStatus("undelivered") }, "undelivered"},
		// A hung account is cut after failover_after (1 s), long before its
		// own 10 s timeout.
		{"main hangs", func(tw *testpeer.Twilio) { tw.Delay(time.Minute) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			twMain, twBackup := testpeer.StartTwilio(t), testpeer.StartTwilio(t)
			tc.breakMain(twMain)
			main, _ := newProvider(t, twMain, "twilio-main", func(c *Config) { c.Timeout = 10 * time.Second })
			backup, _ := newProvider(t, twBackup, "twilio-backup", func(c *Config) { c.From = "+15550002222" })
			var mu sync.Mutex
			var attempts []string
			f := &notify.Failover{Channel: "sms", Providers: []notify.Provider{main, backup}, FailoverAfter: time.Second,
				OnAttempt: func(_, provider string, err error) {
					mu.Lock()
					defer mu.Unlock()
					attempts = append(attempts, provider+"="+map[bool]string{true: "ok", false: "err"}[err == nil])
				}}
			m := testMessage("+393331234567")
			start := time.Now()
			got, err := f.Notify(context.Background(), m)
			if err != nil || got != "twilio-backup" {
				t.Fatalf("Notify = %q, %v; want twilio-backup", got, err)
			}
			took := time.Since(start)
			t.Logf("failover took %v", took)
			if took > 5*time.Second {
				t.Errorf("failover took %v: the main account was waited for beyond failover_after", took)
			}
			if n := twMain.Attempts(); n > 1 { // a hung request is not counted
				t.Errorf("main answered %d create requests; fail over first, retry later wants 1", n)
			}
			if strings.Join(attempts, ",") != "twilio-main=err,twilio-backup=ok" {
				t.Errorf("attempts %v", attempts)
			}
			b := twBackup.Messages()
			if len(b) != 1 || b[0].Status != "delivered" || b[0].From != "+15550002222" || b[0].Body != SMSText(m) {
				t.Errorf("backup messages %+v", b)
			}
			mm := twMain.Messages()
			if tc.mainState == "" && len(mm) != 0 || tc.mainState != "" && (len(mm) != 1 || mm[0].Status != tc.mainState) {
				t.Errorf("main messages %+v, want state %q", mm, tc.mainState)
			}
		})
	}
}

// A message the account accepted is not cut by failover_after while its
// status is followed: moving on could only duplicate it.
func TestFailoverWaitsForAcceptedMessage(t *testing.T) {
	twMain, twBackup := testpeer.StartTwilio(t), testpeer.StartTwilio(t)
	// Two status fetches 400 ms apart: delivered after ~800 ms, beyond
	// failover_after (300 ms).
	main, _ := newProvider(t, twMain, "twilio-main", func(c *Config) { c.StatusPoll = 400 * time.Millisecond })
	backup, _ := newProvider(t, twBackup, "twilio-backup", nil)
	f := &notify.Failover{Channel: "sms", Providers: []notify.Provider{main, backup}, FailoverAfter: 300 * time.Millisecond}
	got, err := f.Notify(context.Background(), testMessage("+393331234567"))
	if err != nil || got != "twilio-main" {
		t.Fatalf("Notify = %q, %v; want twilio-main", got, err)
	}
	if n := len(twBackup.Messages()); n != 0 {
		t.Errorf("backup got %d messages: an accepted message was sent twice", n)
	}
	if mm := twMain.Messages(); len(mm) != 1 || mm[0].Status != "delivered" {
		t.Errorf("main messages %+v", mm)
	}
}

// An api_url with a path (Twilio behind a gateway) keeps the path prefix.
func TestAPIURLWithPath(t *testing.T) {
	tw := testpeer.StartTwilio(t)
	target, _ := url.Parse(tw.URL())
	var mu sync.Mutex
	var paths []string
	gw := httptest.NewServer(http.StripPrefix("/gw/twilio", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	})))
	t.Cleanup(gw.Close)
	p, _ := newProvider(t, tw, "twilio-gw", func(c *Config) { c.APIURL = gw.URL + "/gw/twilio/" })
	if err := p.Send(context.Background(), testMessage("+393331234567")); err != nil {
		t.Fatalf("Send through the gateway: %v", err)
	}
	if err := p.Probe(context.Background()); err != nil {
		t.Fatalf("Probe through the gateway: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 4 || paths[0] != "/2010-04-01/Accounts/"+tw.AccountSID+"/Messages.json" {
		t.Errorf("gateway saw %v", paths)
	}
}

// A message Twilio took is reported with its SID (the dispatcher records
// it), and a process taking the send over follows that SID instead of
// sending again: delivered is success, a SID Twilio does not know is a
// refusal (the next provider sends it), and nothing new is created.
func TestFollowTakenMessage(t *testing.T) {
	for _, final := range []string{"delivered", "undelivered"} {
		t.Run(final, func(t *testing.T) {
			tw := testpeer.StartTwilio(t)
			tw.FinalStatus(final)
			p, _ := newProvider(t, tw, "twilio-main", nil)
			m := testMessage("+393331234567")
			var sid string
			f := &notify.Failover{Channel: "sms", Providers: []notify.Provider{p}}
			ctx := notify.OnAccepted(context.Background(), func(tk *notify.Taken) {
				if tk != nil {
					sid = tk.Ref
				}
			})
			_, _ = f.Notify(ctx, m)
			msgs := tw.Messages()
			if len(msgs) != 1 || sid == "" || msgs[0].SID != sid {
				t.Fatalf("the hook heard SID %q; the server has %+v", sid, msgs)
			}
			// Another process, another provider value: it asks.
			q, _ := newProvider(t, tw, "twilio-main", nil)
			err := q.Follow(context.Background(), m, sid)
			if final == "delivered" && err != nil {
				t.Errorf("Follow of a delivered message: %v", err)
			}
			if final == "undelivered" && (err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), sid)) {
				t.Errorf("Follow of an undelivered message: want a permanent error naming %s, got %v", sid, err)
			}
			if err := q.Follow(context.Background(), m, "SM00000000000000000000000000000000"); err == nil || !notify.IsPermanent(err) {
				t.Errorf("Follow of a SID Twilio does not know: want a permanent error, got %v", err)
			}
			if n := len(tw.Messages()); n != 1 {
				t.Errorf("following created messages: the server has %d, want 1", n)
			}
		})
	}
}

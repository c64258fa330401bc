package twilio

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// The call's TwiML, per language, against golden files: the alarm is read
// without its bracketed tags, XML-escaped, inside a one-key <Gather>
// posting to the delivery's URL; the fixed phrases are in the language.
func TestCallTwiMLGolden(t *testing.T) {
	m := notify.Message{Key: "k", AlarmID: "ab12/cd", Recipient: "+393331234567",
		Subject: `[vedetta dc1] FIRING critical: UPSOnBattery on ups-b: load 80% <on battery> & "runtime" 5 min [ab12cd]`}
	for _, lang := range []string{"it-IT", "en-US"} {
		t.Run(lang, func(t *testing.T) {
			words := languages[lang[:2]]
			action := "https://vedetta.example:9750" + VoicePath + "/" + url.PathEscape(m.AlarmID) + "?x=1&y=2"
			got := CallTwiML(lang, words, action, m)
			path := filepath.Join("testdata", "voice_"+lang+".xml")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if got+"\n" != string(want) {
				t.Errorf("TwiML differs from %s:\ngot  %s\nwant %s", path, got, want)
			}
			// It parses, and says what the alarm says, unescaped.
			var doc struct {
				Gather struct {
					Action string   `xml:"action,attr"`
					Digits string   `xml:"numDigits,attr"`
					Say    []string `xml:"Say"`
				} `xml:"Gather"`
				Say []string `xml:"Say"`
			}
			if err := xml.Unmarshal([]byte(got), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Gather.Action != action || doc.Gather.Digits != "1" {
				t.Errorf("gather action %q digits %q", doc.Gather.Action, doc.Gather.Digits)
			}
			if len(doc.Gather.Say) == 0 || !strings.Contains(doc.Gather.Say[0], `UPSOnBattery on ups-b: load 80% <on battery> & "runtime" 5 min.`) ||
				strings.Contains(doc.Gather.Say[0], "[") {
				t.Errorf("reads %q", doc.Gather.Say)
			}
			if !strings.Contains(doc.Gather.Say[1], words.prompt) || len(doc.Say) != 1 || doc.Say[0] != words.noKey {
				t.Errorf("prompt %q, after the gather %q", doc.Gather.Say, doc.Say)
			}
		})
	}
	if languages["it"].prompt == languages["en"].prompt {
		t.Error("Italian and English prompts are the same")
	}
}

func newVoice(t *testing.T, tw *testpeer.Twilio, edit func(*VoiceConfig)) (*Voice, *testpeer.Buffer) {
	t.Helper()
	cfg := VoiceConfig{AccountSID: tw.AccountSID, AuthToken: config.Secret(tw.AuthToken), From: "+15550001111",
		APIURL: tw.URL(), Timeout: 2 * time.Second, Language: "it-IT", RingTimeout: 5 * time.Second,
		CallTimeout: 10 * time.Second, StatusPoll: 30 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	logs := &testpeer.Buffer{}
	v, err := NewVoice("voice-main", cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return v, logs
}

// voiceHook serves VoiceInbound for v on 127.0.0.1 and records the acks.
type voiceHook struct {
	in     *VoiceInbound
	url    string
	mu     sync.Mutex
	acks   []Key
	escs   []Key
	refuse bool // OnAck acknowledges nothing
}

func startVoiceHook(t *testing.T, v *Voice) *voiceHook {
	h := &voiceHook{}
	h.in = &VoiceInbound{Providers: []*Voice{v}, Receivers: map[string]string{"+393331234567": "oncall"},
		OnAck: func(_ context.Context, k Key) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.acks = append(h.acks, k)
			return !h.refuse
		},
		OnEscalate: func(_ context.Context, k Key) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.escs = append(h.escs, k)
		}}
	srv := httptest.NewServer(h.in)
	t.Cleanup(srv.Close)
	h.url, h.in.Base = srv.URL, srv.URL
	v.SetExternalURL(srv.URL + "/")
	return h
}

func (h *voiceHook) got() []Key {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Key(nil), h.acks...)
}

func (h *voiceHook) escalated() []Key {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Key(nil), h.escs...)
}

// A call's outcome, for each way a call plays out at the Twilio server:
// only a 4 that acknowledged is a delivery; failed is permanent; the rest
// is temporary (the next provider, a later round, the escalation).
func TestVoiceCallOutcomes(t *testing.T) {
	tw := testpeer.StartTwilio(t)
	v, _ := newVoice(t, tw, nil)
	h := startVoiceHook(t, v)
	for _, c := range []struct {
		name      string
		flow      testpeer.CallFlow
		refuse    bool
		ok        bool
		permanent bool
		acks      int
		escs      int
		answer    string // in the TwiML answering the key
	}{
		{"4 pressed", testpeer.CallFlow{Digits: "4"}, false, true, false, 1, 0, "Confermato"},
		{"4 pressed, nothing to acknowledge", testpeer.CallFlow{Digits: "4"}, true, true, false, 1, 0, "Non ho confermato nulla"},
		{"6 pressed", testpeer.CallFlow{Digits: "6"}, false, true, false, 0, 1, "passo al prossimo"},
		{"other key", testpeer.CallFlow{Digits: "9"}, false, false, false, 0, 0, "Non ho capito"},
		{"answered, no key", testpeer.CallFlow{}, false, false, false, 0, 0, ""},
		{"no answer", testpeer.CallFlow{NoAnswer: true}, false, false, false, 0, 0, ""},
		{"busy", testpeer.CallFlow{NoAnswer: true, Status: "busy"}, false, false, false, 0, 0, ""},
		{"failed", testpeer.CallFlow{NoAnswer: true, Status: "failed"}, false, false, true, 0, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tw.Reset()
			tw.SetCallFlow(c.flow)
			h.mu.Lock()
			h.acks, h.escs, h.refuse = nil, nil, c.refuse
			h.mu.Unlock()
			m := testMessage("+393331234567")
			err := v.Send(context.Background(), m)
			if (err == nil) != c.ok || notify.IsPermanent(err) != c.permanent {
				t.Fatalf("Send: %v, want ok %v permanent %v", err, c.ok, c.permanent)
			}
			if !c.ok && !c.permanent && (!errors.Is(err, ErrNotAcknowledged) || !errors.Is(err, notify.ErrUnanswered)) {
				t.Errorf("error %v does not say the call was not acknowledged", err)
			}
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tw.WaitCalls(wctx); err != nil {
				t.Fatal(err)
			}
			calls := tw.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls placed, want 1", len(calls))
			}
			call := calls[0]
			if call.To != m.Recipient || call.From != "+15550001111" || call.Timeout != "5" {
				t.Errorf("call to %s from %s ringing %ss", call.To, call.From, call.Timeout)
			}
			if !strings.Contains(call.Twiml, "ups on battery on ups-b: on battery.") || !strings.Contains(call.Twiml, `language="it-IT"`) {
				t.Errorf("TwiML %s", call.Twiml)
			}
			if c.flow.NoAnswer {
				return
			}
			if want := h.url + VoicePath + "/" + m.AlarmID; call.Action != want {
				t.Errorf("gather action %q, want %q", call.Action, want)
			}
			if got := h.got(); len(got) != c.acks || c.acks > 0 && (got[0].Ref != m.AlarmID || got[0].Receiver != "oncall" ||
				got[0].To != m.Recipient || got[0].CallSID != call.SID) {
				t.Errorf("acks %+v, want %d for %s", got, c.acks, m.AlarmID)
			}
			if got := h.escalated(); len(got) != c.escs || c.escs > 0 && (got[0].Ref != m.AlarmID || got[0].Digit != "6") {
				t.Errorf("escalations %+v, want %d", got, c.escs)
			}
			if c.flow.Digits != "" && (call.ActionStatus != 200 || !strings.Contains(call.Answer, c.answer)) {
				t.Errorf("key answered HTTP %d %q, want %q", call.ActionStatus, call.Answer, c.answer)
			}
		})
	}
}

// The webhook refuses a bad or missing signature (403) and does nothing
// for a call it is not following; neither reaches OnAck.
func TestVoiceWebhookRefuses(t *testing.T) {
	tw := testpeer.StartTwilio(t)
	v, _ := newVoice(t, tw, nil)
	h := startVoiceHook(t, v)
	post := func(token, callSID, ref string) (int, string) {
		target := h.url + VoicePath + "/" + ref
		form := url.Values{"AccountSid": {tw.AccountSID}, "CallSid": {callSID}, "To": {"+393331234567"},
			"From": {"+15550001111"}, "Digits": {"4"}, "CallStatus": {"in-progress"}, "Direction": {"outbound-api"}}
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("X-Twilio-Signature", testpeer.TwilioSignature(token, target, form))
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		b.Write(buf[:n])
		return res.StatusCode, b.String()
	}
	for _, c := range []struct {
		name, token, sid string
		status           int
	}{
		{"bad signature", "wrongtoken0123", "CA0123", http.StatusForbidden},
		{"no signature", "", "CA0123", http.StatusForbidden},
		{"unknown call", tw.AuthToken, "CA0123", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := post(c.token, c.sid, "ab12cd")
			if status != c.status {
				t.Errorf("HTTP %d, want %d", status, c.status)
			}
			if c.status == http.StatusOK && !strings.Contains(body, "Non è stato fatto nulla") {
				t.Errorf("answer %q", body)
			}
			if got := h.got(); len(got) != 0 || len(h.escalated()) != 0 {
				t.Errorf("acted on: %+v %+v", got, h.escalated())
			}
		})
	}
}

func TestNewVoiceChecks(t *testing.T) {
	ok := VoiceConfig{AccountSID: "AC0123", AuthToken: "tok0123", From: "+15550001111"}
	for _, c := range []struct {
		name  string
		edit  func(*VoiceConfig)
		field string
	}{
		{"no from", func(c *VoiceConfig) { c.From = "" }, "from"},
		{"bad language", func(c *VoiceConfig) { c.Language = "italiano" }, "language"},
		{"language without phrases", func(c *VoiceConfig) { c.Language = "de-DE" }, "language"},
		{"ring too short", func(c *VoiceConfig) { c.RingTimeout = time.Second }, "ring_timeout"},
		{"call shorter than ring", func(c *VoiceConfig) { c.RingTimeout, c.CallTimeout = time.Minute, 30*time.Second }, "call_timeout"},
		{"call longer than a send", func(c *VoiceConfig) { c.CallTimeout = 3 * time.Minute }, "call_timeout"},
		{"bad account", func(c *VoiceConfig) { c.AccountSID = "XX1" }, "account_sid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := NewVoice("v", cfg, nil)
			probs, _ := config.Problems(err)
			if len(probs) != 1 || probs[0].Field != c.field {
				t.Errorf("error %v, want one problem at %s", err, c.field)
			}
		})
	}
	v, err := NewVoice("v", ok, nil)
	if err != nil || v.lang != "en-US" || v.ringTimeout != DefaultRingTimeout {
		t.Errorf("defaults: %v %+v", err, v)
	}
	// Without http.external_url a call could take no key: refused.
	if err := v.Send(context.Background(), testMessage("+393331234567")); !notify.IsPermanent(err) {
		t.Errorf("Send without external URL: %v", err)
	}
}

// Whatever an alarm says, the call's TwiML is XML Twilio can read: it
// parses, its <Gather> posts to the action given, and it reads the alarm
// and the prompt.
func FuzzCallTwiML(f *testing.F) {
	f.Add(`[vedetta dc1] FIRING critical: UPSOnBattery on ups-b: load 80% <on battery> & "runtime" [ab12cd]`, "ab12cd", true)
	f.Add("]]><Say>injected</Say><![CDATA[", "a/b?c=d&e", false)
	f.Add("\x00\xff\ufffe[[[", "", true)
	f.Fuzz(func(t *testing.T, subject, ref string, italian bool) {
		lang := "en-US"
		if italian {
			lang = "it-IT"
		}
		w := languages[lang[:2]]
		action := "https://v.example" + VoicePath + "/" + url.PathEscape(ref)
		doc := CallTwiML(lang, w, action, notify.Message{AlarmID: ref, Subject: subject})
		var parsed struct {
			XMLName xml.Name `xml:"Response"`
			Gather  []struct {
				Action string   `xml:"action,attr"`
				Say    []string `xml:"Say"`
			} `xml:"Gather"`
			Say []string `xml:"Say"`
		}
		if err := xml.Unmarshal([]byte(doc), &parsed); err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		if len(parsed.Gather) != 1 || parsed.Gather[0].Action != action || len(parsed.Gather[0].Say) != 3 || len(parsed.Say) != 1 {
			t.Fatalf("shape: %+v", parsed)
		}
		g := parsed.Gather[0]
		if !strings.HasPrefix(g.Say[0], w.intro) || g.Say[1] != w.prompt || parsed.Say[0] != w.noKey {
			t.Fatalf("says %q then %q", g.Say, parsed.Say)
		}
	})
}

// The key webhook never panics and never acknowledges for a call it is
// not following, whatever the form, even correctly signed.
func FuzzVoiceWebhook(f *testing.F) {
	f.Add("/ab12cd", "CallSid=CA1&To=%2B393331234567&Digits=4&AccountSid=AC0123", true)
	f.Add("/", "Digits=6", false)
	f.Add("/%zz", "a=%zz&&&=", true)
	v, err := NewVoice("v", VoiceConfig{AccountSID: "AC0123", AuthToken: "tok0123", From: "+15550001111"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	acks := 0
	in := &VoiceInbound{Base: "https://v.example", Providers: []*Voice{v}, Receivers: map[string]string{"+393331234567": "oncall"},
		OnAck: func(context.Context, Key) bool { acks++; return true }}
	f.Fuzz(func(t *testing.T, path, body string, sign bool) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n#?") {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "https://v.example"+VoicePath+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			form, err := url.ParseQuery(body)
			if err != nil {
				return
			}
			first := url.Values{}
			for k, vs := range form {
				first[k] = vs[:1] // the validator sees the first value of each
			}
			req.Header.Set("X-Twilio-Signature", testpeer.TwilioSignature("tok0123", in.Base+req.URL.EscapedPath(), first))
		}
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, req)
		if acks != 0 {
			t.Fatalf("acknowledged a call nobody placed: %s %s", path, body)
		}
		if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), "<Response>") {
			t.Fatalf("HTTP 200 without TwiML: %q", rec.Body.String())
		}
	})
}

// A call nobody answers fails over like an undelivered SMS: the channel's
// next voice provider (another account) calls at once, and its 4 is the
// delivery.
func TestVoiceNoAnswerFailsOver(t *testing.T) {
	tw1, tw2 := testpeer.StartTwilio(t), testpeer.StartTwilio(t)
	v1, _ := newVoice(t, tw1, nil)
	v2, _ := newVoice(t, tw2, func(c *VoiceConfig) { c.Language = "en-US" })
	h := startVoiceHook(t, v1)
	h.in.Providers = append(h.in.Providers, v2)
	v2.SetExternalURL(h.url)
	tw1.SetCallFlow(testpeer.CallFlow{NoAnswer: true})
	tw2.SetCallFlow(testpeer.CallFlow{Digits: "4"})
	f := &notify.Failover{Channel: "voice", Providers: []notify.Provider{v1, v2}, FailoverAfter: time.Second}
	prov, err := f.Notify(context.Background(), testMessage("+393331234567"))
	if err != nil || prov != v2.Name() {
		t.Fatalf("Notify: %q, %v; want the second provider", prov, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tw1.WaitCalls(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tw2.WaitCalls(ctx); err != nil {
		t.Fatal(err)
	}
	if c1, c2 := tw1.Calls(), tw2.Calls(); len(c1) != 1 || c1[0].Status != "no-answer" || len(c2) != 1 || c2[0].Pressed != "4" {
		t.Errorf("first account %+v, second %+v", c1, c2)
	}
	if got := h.got(); len(got) != 1 || got[0].CallSID != tw2.Calls()[0].SID {
		t.Errorf("acks %+v", got)
	}
}

package twilio

// The voice channel: a phone call through Twilio's Calls API that reads the
// alarm (TwiML <Say>) and asks for one key (<Gather>): 4 acknowledges, 6
// passes it on. It lives next to the SMS provider because it is the same
// Twilio account seen through the same client (api_url rewrite, context
// bound requests, error classification) and the same webhook signature.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
)

// VoicePath is where the call's <Gather> posts the key pressed, followed by
// "/" and the delivery's ref (on the HTTP listener, http.external_url +
// VoicePath + "/<ref>").
const VoicePath = "/api/v1/twilio/voice"

// Defaults of VoiceConfig.
const (
	DefaultLanguage    = "en-US"
	DefaultRingTimeout = 30 * time.Second
	// DefaultCallTimeout bounds a whole call from its creation: ringing,
	// reading the alarm, waiting for the key.
	DefaultCallTimeout = 90 * time.Second
	MaxCallTimeout     = 2 * time.Minute
)

// VoiceConfig is the twilio: block of a voice provider: the account (as for
// SMS) and how the call speaks.
type VoiceConfig struct {
	AccountSID string        `yaml:"account_sid"`
	AuthToken  config.Secret `yaml:"auth_token"`
	From       string        `yaml:"from"` // a voice-capable number of the account (E.164)
	APIURL     string        `yaml:"api_url"`
	Timeout    time.Duration `yaml:"timeout"` // each API request
	// Language of the <Say> and of the fixed phrases: it-IT, en-US, en-GB...
	Language string `yaml:"language"`
	// RingTimeout is how long Twilio lets the phone ring (its Timeout
	// parameter; 5s to 100s here). Default 30s: shorter than most voicemails.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// CallTimeout is how long the call's outcome is followed; a call still
	// going without a 4 by then counts as not acknowledged. Default 90s.
	CallTimeout time.Duration `yaml:"call_timeout"`
	StatusPoll  time.Duration `yaml:"status_poll"`
}

// phrases are the fixed words of a call, per language (the part before
// the "-").
type phrases struct {
	intro, prompt, noKey, acked, notAcked, escalated, notUnderstood, gone string
}

var languages = map[string]phrases{
	"en": {
		intro:         "This is vedetta.",
		prompt:        "Press 4 to acknowledge, 6 to escalate.",
		noKey:         "No key pressed. The alarm is not acknowledged. Goodbye.",
		acked:         "Acknowledged. Goodbye.",
		notAcked:      "Nothing was acknowledged: the alarm is no longer firing, or vedetta cannot act now. Goodbye.",
		escalated:     "Not acknowledged: passing it on. Goodbye.",
		notUnderstood: "Not understood.",
		gone:          "This call is no longer followed. Nothing was done. Goodbye.",
	},
	"it": {
		intro:         "Qui vedetta.",
		prompt:        "Premi 4 per confermare, 6 per passare al prossimo.",
		noKey:         "Nessun tasto premuto. L'allarme non è confermato. Arrivederci.",
		acked:         "Confermato. Arrivederci.",
		notAcked:      "Non ho confermato nulla: l'allarme non è più attivo, o vedetta non può agire ora. Arrivederci.",
		escalated:     "Non confermato: passo al prossimo. Arrivederci.",
		notUnderstood: "Non ho capito.",
		gone:          "Questa chiamata non è più seguita. Non è stato fatto nulla. Arrivederci.",
	},
}

var langRE = regexp.MustCompile(`^([a-z]{2})-[A-Z]{2}$`)

// Voice is one Twilio account placing calls: a notify.Provider and a
// notify.Prober. It keeps the calls it is following, so that the key
// pressed on one (VoiceInbound) settles that call's outcome.
type Voice struct {
	acct        *Provider
	lang        string
	words       phrases
	ringTimeout time.Duration
	callTimeout time.Duration
	statusPoll  time.Duration
	base        atomic.Pointer[string] // http.external_url, set by the daemon
	log         *slog.Logger

	mu    sync.Mutex
	calls map[string]*liveCall // by CallSid
}

var (
	_ notify.Provider = (*Voice)(nil)
	_ notify.Prober   = (*Voice)(nil)
)

// liveCall is a call being followed.
type liveCall struct {
	to, ref string
	pressed chan string // the first key acted on (buffered 1)
	once    sync.Once
}

func (c *liveCall) press(key string) bool {
	done := false
	c.once.Do(func() { c.pressed <- key; done = true })
	return done
}

// NewVoice checks cfg and builds the provider; it does not contact Twilio.
func NewVoice(name string, cfg VoiceConfig, log *slog.Logger) (*Voice, error) {
	fail := func(field, format string, a ...any) (*Voice, error) {
		return nil, config.Problem(field, format, a...)
	}
	if cfg.From == "" {
		return fail("from", "required: a voice-capable number of the account, like +390212345678")
	}
	if cfg.Language == "" {
		cfg.Language = DefaultLanguage
	}
	m := langRE.FindStringSubmatch(cfg.Language)
	if m == nil {
		return fail("language", "want a language like it-IT or en-US, got %q", cfg.Language)
	}
	words, ok := languages[m[1]]
	if !ok {
		return fail("language", "no phrases for %q: want it-XX or en-XX (it-IT, en-US, en-GB...)", cfg.Language)
	}
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{{&cfg.RingTimeout, DefaultRingTimeout, "ring_timeout"}, {&cfg.CallTimeout, DefaultCallTimeout, "call_timeout"},
		{&cfg.StatusPoll, DefaultStatusPoll, "status_poll"}} {
		if *d.v < 0 {
			return fail(d.name, "must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.RingTimeout < 5*time.Second || cfg.RingTimeout > 100*time.Second {
		return fail("ring_timeout", "want 5s to 100s (Twilio rings 5-600 s; a call must end within call_timeout), got %s", cfg.RingTimeout)
	}
	if cfg.CallTimeout > MaxCallTimeout {
		// The dispatcher bounds one send (every provider of the channel)
		// by two minutes of its three-minute lease.
		return fail("call_timeout", "at most %s (a send's bound), got %s", MaxCallTimeout, cfg.CallTimeout)
	}
	if cfg.CallTimeout <= cfg.RingTimeout {
		return fail("call_timeout", "must be longer than ring_timeout (%s): the call rings, then speaks", cfg.RingTimeout)
	}
	acct, err := New(name, Config{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, From: cfg.From, APIURL: cfg.APIURL,
		Timeout: cfg.Timeout, StatusPoll: cfg.StatusPoll}, log)
	if err != nil {
		return nil, err
	}
	return &Voice{acct: acct, lang: cfg.Language, words: words, ringTimeout: cfg.RingTimeout, callTimeout: cfg.CallTimeout,
		statusPoll: cfg.StatusPoll, log: acct.log, calls: map[string]*liveCall{}}, nil
}

// Name is the provider's configured name.
func (v *Voice) Name() string { return v.acct.name }

// AccountSID is the provider's account (not a secret).
func (v *Voice) AccountSID() string { return v.acct.sid }

// SetExternalURL is where Twilio reaches this daemon (http.external_url):
// the <Gather> posts there. Without it Send refuses (permanently).
func (v *Voice) SetExternalURL(u string) {
	u = strings.TrimRight(u, "/")
	v.base.Store(&u)
}

// Probe fetches the account, as the SMS provider does.
func (v *Voice) Probe(ctx context.Context) error { return v.acct.Probe(ctx) }

// ErrNotAcknowledged is the cause of a call that ended (or was given up)
// without a 4.
var ErrNotAcknowledged = fmt.Errorf("call not acknowledged (%w)", notify.ErrUnanswered)

// Send places the call and follows it until it ends or call_timeout:
//   - creating it fails as an SMS create does (429/5xx/timeouts temporary,
//     other 4xx permanent);
//   - 4 pressed is success, whatever happens to the call afterwards (and
//     whether or not something was left to acknowledge: it was heard);
//   - 6 pressed is success too: heard and passed on (the webhook ran the
//     next escalation step), so no other provider calls the same phone;
//   - no-answer, busy, canceled, completed without a key, or still
//     going at call_timeout: a temporary error, so the next voice
//     provider (failover) and later rounds (backoff) call again, and the
//     alarm, unacknowledged, escalates by its route's steps;
//   - failed (Twilio could not place it: a bad number): permanent;
//   - a test message (vedetta test-notify) succeeds once answered.
//
// A call Twilio accepted after our deadline may ring while the next
// provider calls too: at most one extra call per provider per round.
func (v *Voice) Send(ctx context.Context, m notify.Message) error {
	if strings.TrimSpace(m.Recipient) == "" {
		return notify.Permanent(errors.New("twilio voice: message has no recipient number"))
	}
	base := v.base.Load()
	if base == nil || *base == "" {
		return notify.Permanent(errors.New("twilio voice: http.external_url is not set: the call could not take a key"))
	}
	doc := CallTwiML(v.lang, v.words, *base+VoicePath+"/"+url.PathEscape(m.AlarmID), m)
	params := &api.CreateCallParams{}
	params.SetTo(m.Recipient)
	params.SetFrom(v.acct.from)
	params.SetTwiml(doc)
	params.SetTimeout(int(v.ringTimeout / time.Second))
	params.SetTimeLimit(int(v.callTimeout / time.Second))

	c, err := call(ctx, v.acct, "create call", func(s *api.ApiService) (*api.ApiV2010Call, error) {
		return s.CreateCall(params)
	})
	if err != nil {
		if !notify.IsPermanent(err) && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil) {
			v.log.Warn("twilio call create timed out; the phone may ring anyway", "key", m.Key, "to", m.Recipient)
		}
		return err
	}
	sid := deref(c.Sid)
	if sid == "" {
		return notify.Temporary(fmt.Errorf("twilio create call: answer without a call sid (status %q)", deref(c.Status)))
	}
	// Registered once Twilio answers with the SID: a key cannot come
	// sooner, the phone rings and the alarm is read first.
	lc := &liveCall{to: m.Recipient, ref: m.AlarmID, pressed: make(chan string, 1)}
	v.mu.Lock()
	v.calls[sid] = lc
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.calls, sid)
		v.mu.Unlock()
	}()
	notify.Accepted(ctx) // the phone may ring: moving on now could only double the call
	v.log.Info("twilio call placed", "sid", sid, "status", deref(c.Status), "to", m.Recipient, "key", m.Key, "alarm", m.AlarmID)
	return v.follow(ctx, m, sid, deref(c.Status), lc)
}

// follow waits for a key or the call's end, polling its status.
func (v *Voice) follow(ctx context.Context, m notify.Message, sid, status string, lc *liveCall) error {
	deadline := time.NewTimer(v.callTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(v.statusPoll)
	defer tick.Stop()
	for {
		switch status {
		case "failed":
			return notify.Permanent(fmt.Errorf("twilio call %s to %s failed (Twilio could not place it)", sid, m.Recipient))
		case "in-progress":
			if m.Event == "test" {
				// vedetta test-notify: answered is what a test proves (the
				// key goes to the daemon, which is not following this call).
				v.log.Info("twilio test call answered", "sid", sid, "to", m.Recipient)
				return nil
			}
		case "no-answer", "busy", "canceled", "completed":
			// A key posted just before the call ended still counts.
			select {
			case key := <-lc.pressed:
				return v.outcome(sid, m, key)
			default:
			}
			return notify.Temporary(fmt.Errorf("twilio call %s to %s: %s: %w", sid, m.Recipient, status, ErrNotAcknowledged))
		}
		select {
		case key := <-lc.pressed:
			return v.outcome(sid, m, key)
		case <-ctx.Done():
			return notify.Temporary(fmt.Errorf("twilio call %s to %s (%s): stopped following it: %w", sid, m.Recipient, status, ctx.Err()))
		case <-deadline.C:
			v.log.Warn("twilio call not acknowledged within call_timeout", "sid", sid, "status", status, "key", m.Key)
			return notify.Temporary(fmt.Errorf("twilio call %s to %s still %s after call_timeout %s: %w", sid, m.Recipient, status,
				v.callTimeout, ErrNotAcknowledged))
		case <-tick.C:
		}
		got, err := call(ctx, v.acct, "fetch call", func(s *api.ApiService) (*api.ApiV2010Call, error) {
			return s.FetchCall(sid, &api.FetchCallParams{})
		})
		if err != nil {
			v.log.Debug("twilio call status fetch failed", "sid", sid, "err", err)
			continue
		}
		if st := deref(got.Status); st != status {
			v.log.Debug("twilio call status", "sid", sid, "status", st)
			status = st
		}
	}
}

// outcome of a key: both mean the person heard the alarm, so the call is
// delivered and nobody calls them again about it; 6 passed it on (the
// webhook ran the next escalation step), the alarm stays unacknowledged.
func (v *Voice) outcome(sid string, m notify.Message, key string) error {
	if key == "4" {
		v.log.Info("twilio call acknowledged", "sid", sid, "to", m.Recipient, "key", m.Key)
	} else {
		v.log.Info("twilio call passed on (6): heard, not acknowledged", "sid", sid, "to", m.Recipient, "key", m.Key)
	}
	return nil
}

// live finds a followed call by SID.
func (v *Voice) live(sid string) *liveCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls[sid]
}

// spoken is what a call reads of a message: its subject without the
// bracketed tags ("[vedetta dc1]", the id at the end), which sound like
// noise, cut to a length one listens to.
func spoken(m notify.Message) string {
	s := strings.TrimSpace(m.Subject)
	for strings.HasPrefix(s, "[") {
		i := strings.Index(s, "]")
		if i < 0 {
			break
		}
		s = strings.TrimSpace(s[i+1:])
	}
	if i := strings.LastIndex(s, " ["); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	s = strings.NewReplacer("_", " ", "×", " times ").Replace(s)
	if r := []rune(s); len(r) > 400 {
		s = string(r[:400])
	}
	return s
}

// CallTwiML is the call's document: the alarm and the prompt inside a
// <Gather> of one key posting to action, then, when no key comes, a
// goodbye (Twilio goes on to the verb after <Gather>).
func CallTwiML(lang string, w phrases, action string, m notify.Message) string {
	var b strings.Builder
	b.WriteString(xml.Header + `<Response><Gather numDigits="1" timeout="10" method="POST" action="`)
	escape(&b, action)
	b.WriteString(`">`)
	say(&b, lang, w.intro+" "+spoken(m)+".")
	say(&b, lang, w.prompt)
	say(&b, lang, w.prompt)
	b.WriteString(`</Gather>`)
	say(&b, lang, w.noKey)
	b.WriteString(`</Response>`)
	return b.String()
}

func say(b *strings.Builder, lang, text string) {
	b.WriteString(`<Say language="`)
	escape(b, lang)
	b.WriteString(`">`)
	escape(b, text)
	b.WriteString(`</Say>`)
}

func escape(b *strings.Builder, s string) { _ = xml.EscapeText(b, []byte(s)) }

// Key is a key pressed on a call that vedetta is following.
type Key struct {
	CallSID  string
	To       string // the number called (E.164)
	Receiver string // whose number it is
	Ref      string // the delivery's ref (alarm or group id)
	Digit    string // "4" or "6"
}

// VoiceInbound answers the <Gather> of the calls the voice providers are
// following: a form-encoded POST to VoicePath/<ref>, signed in
// X-Twilio-Signature like the SMS webhook. A bad signature is refused
// (403); a call that is not being followed, or whose number or ref do not
// match it, gets a goodbye and nothing is done. 4 calls OnAck and says
// its result; 6 calls OnEscalate (the next escalation step, now). Either
// key makes the call delivered: the person heard it.
type VoiceInbound struct {
	// Base is http.external_url without the trailing "/": the signature
	// covers the full URL.
	Base      string
	Providers []*Voice
	// Receivers maps each known voice number to its receiver's name.
	Receivers map[string]string
	// OnAck acknowledges what the call was about; it returns false when
	// nothing was acknowledged (the caller then hears so).
	OnAck func(ctx context.Context, k Key) (ok bool)
	// OnEscalate runs the next escalation step of what the call was about.
	OnEscalate func(ctx context.Context, k Key)
	Log        *slog.Logger
}

func (in *VoiceInbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	form, ok := readForm(w, r, log, "twilio voice webhook")
	if !ok {
		return
	}
	full := in.Base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		full += "?" + r.URL.RawQuery
	}
	sig, account, sid := r.Header.Get("X-Twilio-Signature"), form["AccountSid"], form["CallSid"]
	// The call is followed by the provider that placed it: several may
	// share the account.
	var prov *Voice
	var lc *liveCall
	for _, p := range in.Providers {
		if (account == "" || p.acct.sid == account) && sig != "" && p.acct.validSignature(full, form, sig) {
			if prov == nil {
				prov = p
			}
			if c := p.live(sid); c != nil {
				prov, lc = p, c
				break
			}
		}
	}
	if prov == nil {
		log.Warn("twilio voice webhook refused: bad or missing signature", "remote", r.RemoteAddr, "call_sid", sid,
			"account", account, "url", full)
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	ref := strings.TrimPrefix(r.URL.Path, VoicePath+"/")
	to, digit := form["To"], form["Digits"]
	receiver, known := in.Receivers[to]
	if lc == nil || lc.to != to || lc.ref != ref || !known {
		log.Warn("key on a call vedetta is not following ignored", "call_sid", sid, "to", to, "ref", ref,
			"followed", lc != nil, "known_number", known)
		voiceAnswer(w, prov.lang, prov.words.gone, "")
		return
	}
	k := Key{CallSID: sid, To: to, Receiver: receiver, Ref: ref, Digit: digit}
	log.Info("key pressed on a call", "call_sid", sid, "to", to, "receiver", receiver, "ref", ref, "digit", digit)
	switch digit {
	case "4":
		// The person heard the alarm and answered it: the call is
		// delivered even when nothing was left to acknowledge (resolved
		// meanwhile) or vedetta could not act (they hear so; the alarm,
		// unacknowledged, still escalates). Calling again would not help.
		acked := in.OnAck != nil && in.OnAck(r.Context(), k)
		lc.press("4")
		if acked {
			voiceAnswer(w, prov.lang, prov.words.acked, "")
			return
		}
		voiceAnswer(w, prov.lang, prov.words.notAcked, "")
	case "6":
		if in.OnEscalate != nil {
			in.OnEscalate(r.Context(), k)
		}
		lc.press("6")
		voiceAnswer(w, prov.lang, prov.words.escalated, "")
	default:
		// Ask again, once more, on the same action.
		voiceAnswer(w, prov.lang, prov.words.notUnderstood, in.Base+VoicePath+"/"+url.PathEscape(ref))
	}
}

// voiceAnswer is the TwiML answering a key: text, and with again set a
// new <Gather> of one key posting there.
func voiceAnswer(w http.ResponseWriter, lang, text, again string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	var b strings.Builder
	b.WriteString(xml.Header + "<Response>")
	say(&b, lang, text)
	if again != "" {
		words := languages[lang[:2]]
		b.WriteString(`<Gather numDigits="1" timeout="10" method="POST" action="`)
		escape(&b, again)
		b.WriteString(`">`)
		say(&b, lang, words.prompt)
		b.WriteString(`</Gather>`)
		say(&b, lang, words.noKey)
	}
	b.WriteString("</Response>")
	_, _ = w.Write([]byte(b.String()))
}

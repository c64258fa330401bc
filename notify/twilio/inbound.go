package twilio

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strings"

	tclient "github.com/twilio/twilio-go/client"

	"github.com/vedetta-dc/vedetta/notify"
)

// InboundPath is where Twilio's incoming-message webhook posts (on the
// HTTP listener; set it as the number's "A message comes in" URL,
// http.external_url + InboundPath).
const InboundPath = "/api/v1/twilio/sms"

// Reply is an SMS reply from a known receiver, understood.
type Reply struct {
	From     string // the replying number (E.164)
	Receiver string // whose number it is
	Code     string // the alarm's short code or id, lower case; "" for the latest
	Verb     string // ACK, ESC or RES (notify.Verb...)
}

// Inbound answers Twilio's incoming-message webhook: a form-encoded POST
// signed in X-Twilio-Signature with the account's auth token (HMAC-SHA1
// over the full URL followed by every POST parameter, name then value,
// sorted by name; base64), checked with twilio-go's RequestValidator.
// Only replies from the numbers of known receivers are acted on; a bad
// signature (403) or an unknown number (an empty answer) does nothing but
// a log line. The confirmation goes back as the TwiML answer's <Message>,
// which Twilio sends as an SMS to the replying number.
type Inbound struct {
	// URL is the public URL Twilio posts to (http.external_url +
	// InboundPath): the signature covers it.
	URL string
	// Accounts are the Twilio providers whose auth tokens may sign.
	Accounts []*Provider
	// Receivers maps each known number to its receiver's name.
	Receivers map[string]string
	// OnReply acts on a reply and returns the confirmation text ("" for
	// none).
	OnReply func(ctx context.Context, r Reply) string
	Log     *slog.Logger
}

// EnableReplies makes the provider end every SMS with how to acknowledge
// it by a reply (the daemon does so when the inbound webhook is on).
func (p *Provider) EnableReplies(on bool) { p.replies.Store(on) }

// AccountSID is the provider's account (not a secret).
func (p *Provider) AccountSID() string { return p.sid }

// validSignature checks a webhook's signature with this account's token.
func (p *Provider) validSignature(url string, form map[string]string, sig string) bool {
	v := tclient.NewRequestValidator(p.token)
	return v.Validate(url, form, sig)
}

// readForm reads a webhook's form (at most 64 KiB), first values only, as
// the signature covers them; a form that does not parse is answered 400.
func readForm(w http.ResponseWriter, r *http.Request, log *slog.Logger, what string) (map[string]string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		log.Warn(what+": unreadable form", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "bad form", http.StatusBadRequest)
		return nil, false
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		if len(v) > 0 {
			form[k] = v[0]
		}
	}
	return form, true
}

func (in *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	form, ok := readForm(w, r, log, "twilio webhook")
	if !ok {
		return
	}
	url := in.URL
	if r.URL.RawQuery != "" {
		url += "?" + r.URL.RawQuery
	}
	sig := r.Header.Get("X-Twilio-Signature")
	from, account := form["From"], form["AccountSid"]
	valid := false
	for _, p := range in.Accounts {
		if (account == "" || p.sid == account) && sig != "" && p.validSignature(url, form, sig) {
			valid = true
			break
		}
	}
	if !valid {
		log.Warn("twilio webhook refused: bad or missing signature", "remote", r.RemoteAddr, "from", from,
			"account", account, "url", url)
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	receiver, known := in.Receivers[from]
	if !known {
		log.Warn("SMS reply from an unknown number ignored", "from", from, "message_sid", form["MessageSid"])
		twiml(w, "")
		return
	}
	body := form["Body"]
	code, verb, ok := notify.ParseReply(body)
	reply := Reply{Code: code, Verb: verb}
	if !ok {
		log.Info("SMS reply not understood", "from", from, "receiver", receiver, "body", body)
		twiml(w, notify.ReplyHint)
		return
	}
	reply.From, reply.Receiver = from, receiver
	log.Info("SMS reply", "from", from, "receiver", receiver, "code", reply.Code, "verb", reply.Verb)
	confirm := ""
	if in.OnReply != nil {
		confirm = in.OnReply(r.Context(), reply)
	}
	twiml(w, confirm)
}

// twiml answers with a TwiML document: one <Message> when text is set.
func twiml(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	var b strings.Builder
	b.WriteString(xml.Header + "<Response>")
	if text != "" {
		b.WriteString("<Message>")
		_ = xml.EscapeText(&b, []byte(text))
		b.WriteString("</Message>")
	}
	b.WriteString("</Response>")
	_, _ = w.Write([]byte(b.String()))
}

package testpeer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Twilio is an HTTP server on 127.0.0.1 that speaks the part of Twilio's
// 2010-04-01 REST API that vedetta uses, exactly as github.com/twilio/twilio-go
// calls it (form-encoded POST, Basic auth, JSON answers and Twilio's error
// document):
//
//	POST /2010-04-01/Accounts/{sid}/Messages.json         create (To, From, MessagingServiceSid, Body)
//	GET  /2010-04-01/Accounts/{sid}/Messages/{msid}.json  fetch a message (its status)
//	GET  /2010-04-01/Accounts/{sid}.json                  fetch the account (health probe)
//	POST /2010-04-01/Accounts/{sid}/Calls.json            place a call (To, From, Twiml or Url, Timeout)
//	GET  /2010-04-01/Accounts/{sid}/Calls/{csid}.json     fetch a call (its status)
//
// A placed call then plays out as CallFlow says (twilio_calls.go): it
// rings, is answered or not, and an answered one reads its TwiML and
// posts the <Gather> action with the key pressed, signed as Twilio does.
//
// Point a provider at it with api_url: URL(), account_sid: AccountSID and
// auth_token: AuthToken. A created message is "queued"; each fetch moves it
// on: the first to "sent", the second to the final status (FinalStatus,
// "delivered" unless told otherwise). Like Twilio it refuses a To that is
// not E.164 (400, code 21211), a missing sender (21603) or body (21602),
// and wrong credentials (401, code 20003).
type Twilio struct {
	AccountSID string
	AuthToken  string // alphanumeric: twilio-go refuses anything else client-side

	srv *httptest.Server

	mu         sync.Mutex
	msgs       []*TwilioMessage
	attempts   int
	failStatus int
	failCode   int
	final      string
	finalCode  int
	delay      time.Duration
	release    chan struct{} // closed by Reset and at the end: ends every Delay

	calls    []*TwilioCall
	flow     CallFlow
	stop     chan struct{} // closed at the end: ends every call flow
	flowDone sync.WaitGroup
}

// TwilioMessage is one message the server accepted.
type TwilioMessage struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	Status              string // queued, sent, then the final status
	ErrorCode           int    // set with a failed/undelivered final status
	Created             time.Time
	Fetches             int // status fetches so far
	// Reply is set on a message Twilio sent as the TwiML answer of an
	// incoming message's webhook (a confirmation).
	Reply bool

	final string // where this message ends up, fixed when it was created
}

// StartTwilio starts the server; it stops when the test ends.
func StartTwilio(t testing.TB) *Twilio {
	t.Helper()
	tw := &Twilio{
		AccountSID: "AC" + randHex(16),
		AuthToken:  randHex(16),
		final:      "delivered",
		release:    make(chan struct{}),
		stop:       make(chan struct{}),
	}
	tw.srv = httptest.NewServer(http.HandlerFunc(tw.serve)) // 127.0.0.1, free port
	t.Cleanup(func() {
		close(tw.stop)
		tw.flowDone.Wait()
		tw.mu.Lock()
		close(tw.release)
		tw.release = make(chan struct{})
		tw.mu.Unlock()
		tw.srv.CloseClientConnections()
		tw.srv.Close()
	})
	return tw
}

// URL is the server's base URL (http://127.0.0.1:port), for api_url.
func (tw *Twilio) URL() string { return tw.srv.URL }

// Messages returns a copy of every accepted message, oldest first.
func (tw *Twilio) Messages() []TwilioMessage {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	out := make([]TwilioMessage, len(tw.msgs))
	for i, m := range tw.msgs {
		out[i] = *m
	}
	return out
}

// Attempts counts create requests, accepted or not (retries show here).
func (tw *Twilio) Attempts() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.attempts
}

// FailCreate makes every create answer HTTP status with Twilio error code
// (e.g. 500 and 0, 429 and 20429, 400 and 21211) until Reset.
// FailCreate(0, 0) accepts again.
func (tw *Twilio) FailCreate(status, code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.failStatus, tw.failCode = status, code
}

// FinalStatus sets where messages created from now on end up: "delivered"
// (the default), "undelivered", "failed", or a non-final status such as
// "sent" to leave them there for ever. errorCode is the Twilio error code of
// a failure; the default is 30003 (unreachable handset) for undelivered and
// 30008 (unknown error) for failed.
func (tw *Twilio) FinalStatus(status string, errorCode ...int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.final, tw.finalCode = status, 0
	if len(errorCode) > 0 {
		tw.finalCode = errorCode[0]
	}
}

// Delay holds every answer for d, or until the client gives up, Reset is
// called or the test ends (a hung Twilio).
func (tw *Twilio) Delay(d time.Duration) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.delay = d
}

// Reset forgets the messages and the failure settings, and ends any delay
// in progress.
func (tw *Twilio) Reset() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.msgs, tw.attempts, tw.calls, tw.flow = nil, 0, nil, CallFlow{}
	tw.failStatus, tw.failCode = 0, 0
	tw.final, tw.finalCode, tw.delay = "delivered", 0, 0
	close(tw.release)
	tw.release = make(chan struct{})
}

var (
	twAccountPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)\.json$`)
	twMessagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	twMessagePath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$`)
	e164           = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

func (tw *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	tw.mu.Lock()
	delay, release := tw.delay, tw.release
	tw.mu.Unlock()
	// Read the form first: net/http notices a client that hangs up (and
	// cancels r.Context()) only once the request body has been read.
	formErr := r.ParseForm()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-release:
			t.Stop()
		}
	}
	if u, p, ok := r.BasicAuth(); !ok || u != tw.AccountSID || p != tw.AuthToken {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		twError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if formErr != nil {
		twError(w, http.StatusBadRequest, 20001, "Bad request: "+formErr.Error())
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && twMessagesPath.MatchString(path):
		if twMessagesPath.FindStringSubmatch(path)[1] != tw.AccountSID {
			twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
			return
		}
		tw.create(w, r)
	case r.Method == http.MethodGet && twMessagePath.MatchString(path):
		sm := twMessagePath.FindStringSubmatch(path)
		if sm[1] != tw.AccountSID {
			twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
			return
		}
		tw.fetch(w, sm[2])
	case r.Method == http.MethodPost && twCallsPath.MatchString(path):
		if twCallsPath.FindStringSubmatch(path)[1] != tw.AccountSID {
			twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
			return
		}
		tw.createCall(w, r)
	case r.Method == http.MethodGet && twCallPath.MatchString(path):
		sm := twCallPath.FindStringSubmatch(path)
		if sm[1] != tw.AccountSID {
			twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
			return
		}
		tw.fetchCall(w, sm[2])
	case r.Method == http.MethodGet && twAccountPath.MatchString(path):
		if twAccountPath.FindStringSubmatch(path)[1] != tw.AccountSID {
			twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
			return
		}
		now := time.Now().UTC().Format(time.RFC1123Z)
		twJSON(w, http.StatusOK, map[string]any{
			"sid": tw.AccountSID, "owner_account_sid": tw.AccountSID, "friendly_name": "vedetta test account",
			"status": "active", "type": "Full", "date_created": now, "date_updated": now,
			"uri":              "/2010-04-01/Accounts/" + tw.AccountSID + ".json",
			"subresource_uris": map[string]string{"messages": "/2010-04-01/Accounts/" + tw.AccountSID + "/Messages.json"},
		})
	default:
		twError(w, http.StatusNotFound, 20404, "The requested resource "+path+" was not found")
	}
}

func (tw *Twilio) create(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.attempts++
	if tw.failStatus != 0 {
		if tw.failStatus >= 500 && tw.failCode == 0 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(tw.failStatus)
			fmt.Fprintf(w, "<html><body>%d %s</body></html>", tw.failStatus, http.StatusText(tw.failStatus))
			return
		}
		twError(w, tw.failStatus, tw.failCode, twErrorText(tw.failCode, tw.failStatus))
		return
	}
	to, from, mgs, body := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body")
	switch {
	case to == "":
		twError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case !e164.MatchString(to):
		twError(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case from == "" && mgs == "":
		twError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "":
		twError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case utf8.RuneCountInString(body) > 1600:
		twError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	}
	m := &TwilioMessage{SID: "SM" + randHex(16), To: to, From: from, MessagingServiceSID: mgs, Body: body,
		Status: "queued", Created: time.Now()}
	tw.msgs = append(tw.msgs, m)
	// The final status is decided now, so a later FinalStatus or Reset
	// does not change messages already in flight.
	m.ErrorCode, m.final = tw.finalCode, tw.final
	twJSON(w, http.StatusCreated, tw.resource(m))
}

func (tw *Twilio) fetch(w http.ResponseWriter, msid string) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for _, m := range tw.msgs {
		if m.SID != msid {
			continue
		}
		m.Fetches++
		switch {
		case m.Fetches == 1 && m.final != "queued":
			m.Status = "sent"
		case m.Fetches >= 2:
			m.Status = m.final
		}
		if m.Status == "undelivered" || m.Status == "failed" {
			if m.ErrorCode == 0 {
				m.ErrorCode = map[string]int{"undelivered": 30003, "failed": 30008}[m.Status]
			}
		}
		twJSON(w, http.StatusOK, tw.resource(m))
		return
	}
	twError(w, http.StatusNotFound, 20404, "The requested resource /2010-04-01/Accounts/"+tw.AccountSID+"/Messages/"+msid+".json was not found")
}

// resource is the Message resource as Twilio returns it (see twilio-go's
// ApiV2010Message): every field present, null where Twilio has none yet.
func (tw *Twilio) resource(m *TwilioMessage) map[string]any {
	uri := "/2010-04-01/Accounts/" + tw.AccountSID + "/Messages/" + m.SID
	created := m.Created.UTC().Format(time.RFC1123Z)
	var from, mgs, dateSent, errCode, errMsg any
	if m.From != "" {
		from = m.From
	}
	if m.MessagingServiceSID != "" {
		mgs = m.MessagingServiceSID
	}
	if m.Status != "queued" && m.Status != "accepted" {
		dateSent = created
	}
	if m.Status == "undelivered" || m.Status == "failed" {
		errCode, errMsg = m.ErrorCode, twErrorText(m.ErrorCode, 0)
	}
	segments := "1"
	if n := utf8.RuneCountInString(m.Body); n > 160 {
		segments = fmt.Sprint((n + 152) / 153)
	}
	return map[string]any{
		"sid": m.SID, "account_sid": tw.AccountSID, "api_version": "2010-04-01",
		"to": m.To, "from": from, "messaging_service_sid": mgs, "body": m.Body,
		"status": m.Status, "direction": "outbound-api", "num_segments": segments, "num_media": "0",
		"price": nil, "price_unit": "USD", "error_code": errCode, "error_message": errMsg,
		"date_created": created, "date_updated": time.Now().UTC().Format(time.RFC1123Z), "date_sent": dateSent,
		"uri":              uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
	}
}

func twErrorText(code, status int) string {
	switch code {
	case 20003:
		return "Authenticate"
	case 20429:
		return "Too Many Requests"
	case 21211:
		return "Invalid 'To' Phone Number"
	case 21610:
		return "Attempt to send to unsubscribed recipient"
	case 30003:
		return "Unreachable destination handset"
	case 30005:
		return "Unknown destination handset"
	case 30006:
		return "Landline or unreachable carrier"
	case 30007:
		return "Message filtered"
	case 30008:
		return "Unknown error"
	case 30034:
		return "Message from an unregistered number"
	}
	if status != 0 {
		return http.StatusText(status)
	}
	return fmt.Sprintf("Error %d", code)
}

func twError(w http.ResponseWriter, status, code int, msg string) {
	twJSON(w, status, map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func twJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}

// Incoming delivers an SMS from a phone (from) to the account's number
// (to) the way Twilio calls a number's "A message comes in" webhook: a
// form-encoded POST of Twilio's parameters to hookURL, signed in
// X-Twilio-Signature with the account's auth token. A <Message> in the
// TwiML answer is sent back to from, as Twilio does: it is recorded among
// Messages with Reply set and returned. status is the webhook's HTTP status.
func (tw *Twilio) Incoming(ctx context.Context, hookURL, from, to, body string) (status int, replies []string, err error) {
	return tw.IncomingSignedWith(ctx, tw.AuthToken, hookURL, from, to, body)
}

// IncomingSignedWith is Incoming signed with another token (a forged or
// misconfigured webhook); an empty token sends no signature at all.
func (tw *Twilio) IncomingSignedWith(ctx context.Context, token, hookURL, from, to, body string) (int, []string, error) {
	sid := "SM" + randHex(16)
	form := url.Values{
		"ToCountry": {"IT"}, "ToState": {""}, "SmsMessageSid": {sid}, "NumMedia": {"0"}, "ToCity": {""},
		"FromZip": {""}, "SmsSid": {sid}, "FromState": {""}, "SmsStatus": {"received"}, "FromCity": {""},
		"Body": {body}, "FromCountry": {"IT"}, "To": {to}, "ToZip": {""}, "NumSegments": {"1"},
		"MessageSid": {sid}, "AccountSid": {tw.AccountSID}, "From": {from}, "ApiVersion": {"2010-04-01"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("I-Twilio-Idempotency-Token", randHex(16))
	if token != "" {
		req.Header.Set("X-Twilio-Signature", TwilioSignature(token, hookURL, form))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, nil, err
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil, nil
	}
	var doc struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		return res.StatusCode, nil, fmt.Errorf("webhook answer is not TwiML (Twilio error 12100): %w: %q", err, raw)
	}
	tw.mu.Lock()
	for _, text := range doc.Messages {
		tw.msgs = append(tw.msgs, &TwilioMessage{SID: "SM" + randHex(16), To: from, From: to, Body: text,
			Status: "delivered", Created: time.Now(), Reply: true, final: "delivered"})
	}
	tw.mu.Unlock()
	return res.StatusCode, doc.Messages, nil
}

// TwilioSignature is X-Twilio-Signature as Twilio documents it
// (https://www.twilio.com/docs/usage/security#validating-requests): the
// full URL, then each POST parameter's name and value, sorted by name,
// concatenated without separators; HMAC-SHA1 with the auth token; base64.
func TwilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

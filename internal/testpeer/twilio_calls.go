package testpeer

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The Calls part of the Twilio server: what twilio-go's CreateCall and
// FetchCall send, and the call flow Twilio runs once a call is placed.

var (
	twCallsPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Calls\.json$`)
	twCallPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)\.json$`)
)

// CallFlow is how the calls placed from now on play out.
type CallFlow struct {
	// NoAnswer: the phone rings and nobody picks up; Status is then the
	// call's end: "no-answer" (the default), "busy" or "failed".
	NoAnswer bool
	Status   string
	// Digits is the key pressed once the TwiML is read ("" none: the
	// Gather times out and the call completes).
	Digits string
	// Ring is how long each step takes (queued → ringing → answered);
	// default 100ms.
	Ring time.Duration
}

// TwilioCall is one call the server placed.
type TwilioCall struct {
	SID     string
	To      string
	From    string
	Twiml   string // the inline TwiML, or the one fetched from URL
	URL     string
	Timeout string // the ring timeout asked for (seconds)
	Status  string // queued, ringing, in-progress, then completed/no-answer/busy/failed
	Created time.Time
	Fetches int

	// Said lists every <Say> of the call's TwiML, in order; Action is its
	// <Gather> action.
	Said   []string
	Action string
	// Pressed is the key sent to Action; ActionStatus and Answer are its
	// HTTP status and body (the TwiML the webhook answered).
	Pressed      string
	ActionStatus int
	Answer       string
	ActionErr    string

	flow CallFlow
}

// SetCallFlow sets how the calls placed from now on play out (until Reset:
// answered, no key).
func (tw *Twilio) SetCallFlow(f CallFlow) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.flow = f
}

// Calls returns a copy of every placed call, oldest first.
func (tw *Twilio) Calls() []TwilioCall {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	out := make([]TwilioCall, len(tw.calls))
	for i, c := range tw.calls {
		out[i] = *c
		out[i].Said = append([]string(nil), c.Said...)
	}
	return out
}

func (tw *Twilio) createCall(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.attempts++
	if tw.failStatus != 0 {
		twError(w, tw.failStatus, tw.failCode, twErrorText(tw.failCode, tw.failStatus))
		return
	}
	to, from, twiml, u := f.Get("To"), f.Get("From"), f.Get("Twiml"), f.Get("Url")
	switch {
	case to == "":
		twError(w, http.StatusBadRequest, 21201, "No 'To' number is specified")
		return
	case !e164.MatchString(to):
		twError(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case from == "":
		twError(w, http.StatusBadRequest, 21213, "No 'From' number is specified")
		return
	case twiml == "" && u == "" && f.Get("ApplicationSid") == "":
		twError(w, http.StatusBadRequest, 21205, "Url parameter is required.")
		return
	case len(twiml) > 4000:
		twError(w, http.StatusBadRequest, 21236, "Twiml exceeds the 4000 character limit.")
		return
	}
	if twiml != "" {
		if _, _, err := parseTwiML(twiml); err != nil {
			twError(w, http.StatusBadRequest, 21236, "Invalid Twiml: "+err.Error())
			return
		}
	}
	flow := tw.flow
	if flow.Ring <= 0 {
		flow.Ring = 100 * time.Millisecond
	}
	if flow.NoAnswer && flow.Status == "" {
		flow.Status = "no-answer"
	}
	c := &TwilioCall{SID: "CA" + randHex(16), To: to, From: from, Twiml: twiml, URL: u, Timeout: f.Get("Timeout"),
		Status: "queued", Created: time.Now(), flow: flow}
	tw.calls = append(tw.calls, c)
	tw.flowDone.Add(1)
	go tw.play(c)
	twJSON(w, http.StatusCreated, tw.callResource(c))
}

// play runs a call's flow as Twilio would, until the call ends or the
// server stops.
func (tw *Twilio) play(c *TwilioCall) {
	defer tw.flowDone.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-tw.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := func() bool {
		t := time.NewTimer(c.flow.Ring)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	set := func(status string) {
		tw.mu.Lock()
		c.Status = status
		tw.mu.Unlock()
	}
	if !wait() {
		return
	}
	set("ringing")
	if !wait() {
		return
	}
	if c.flow.NoAnswer {
		set(c.flow.Status)
		return
	}
	set("in-progress")
	params := url.Values{
		"AccountSid": {tw.AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {c.SID}, "CallStatus": {"in-progress"},
		"Called": {c.To}, "Caller": {c.From}, "Direction": {"outbound-api"}, "From": {c.From}, "To": {c.To},
	}
	doc := c.Twiml
	if doc == "" && c.URL != "" {
		status, body, err := tw.post(ctx, c.URL, params)
		if err != nil || status != http.StatusOK {
			tw.mu.Lock()
			c.ActionErr = fmt.Sprintf("fetching TwiML from %s: HTTP %d %v (Twilio error 11200)", c.URL, status, err)
			tw.mu.Unlock()
			set("failed")
			return
		}
		doc = body
	}
	said, action, err := parseTwiML(doc)
	tw.mu.Lock()
	c.Twiml, c.Said, c.Action = doc, said, action
	if err != nil {
		c.ActionErr = "TwiML: " + err.Error() + " (Twilio error 12100)"
	}
	tw.mu.Unlock()
	if err == nil && c.flow.Digits != "" && action != "" {
		if !wait() { // reading the alarm
			return
		}
		form := url.Values{}
		for k, v := range params {
			form[k] = v
		}
		form.Set("Digits", c.flow.Digits)
		form.Set("FinishedOnKey", "")
		form.Set("msg", "Gather End")
		status, body, err := tw.post(ctx, action, form)
		tw.mu.Lock()
		c.Pressed, c.ActionStatus, c.Answer = c.flow.Digits, status, body
		if err != nil {
			c.ActionErr = err.Error()
		}
		tw.mu.Unlock()
	}
	if !wait() {
		return
	}
	set("completed")
}

// post is a webhook request as Twilio makes it: form-encoded, signed with
// the auth token over the full URL and the parameters.
func (tw *Twilio) post(ctx context.Context, target string, form url.Values) (int, string, error) {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second) // Twilio waits 15 s for a webhook
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", TwilioSignature(tw.AuthToken, target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(raw), err
}

// parseTwiML reads a call's document: every <Say> (inside a <Gather> or
// not, in order) and the first <Gather>'s action.
func parseTwiML(doc string) (said []string, action string, err error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	depth := 0
	inSay := false
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "Response":
				return nil, "", fmt.Errorf("root element %q, want Response", t.Name.Local)
			case t.Name.Local == "Say":
				inSay = true
				text.Reset()
			case t.Name.Local == "Gather" && action == "":
				for _, a := range t.Attr {
					if a.Name.Local == "action" {
						action = a.Value
					}
				}
			}
		case xml.CharData:
			if inSay {
				text.Write(t)
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "Say" {
				inSay = false
				said = append(said, text.String())
			}
		}
	}
	if depth != 0 {
		return nil, "", fmt.Errorf("unclosed element")
	}
	return said, action, nil
}

func (tw *Twilio) fetchCall(w http.ResponseWriter, csid string) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for _, c := range tw.calls {
		if c.SID == csid {
			c.Fetches++
			twJSON(w, http.StatusOK, tw.callResource(c))
			return
		}
	}
	twError(w, http.StatusNotFound, 20404, "The requested resource /2010-04-01/Accounts/"+tw.AccountSID+"/Calls/"+csid+".json was not found")
}

// callResource is the Call resource as Twilio returns it (twilio-go's
// ApiV2010Call).
func (tw *Twilio) callResource(c *TwilioCall) map[string]any {
	uri := "/2010-04-01/Accounts/" + tw.AccountSID + "/Calls/" + c.SID
	created := c.Created.UTC().Format(time.RFC1123Z)
	var start, end any
	duration := "0"
	if c.Status != "queued" && c.Status != "ringing" {
		start = created
	}
	switch c.Status {
	case "completed", "no-answer", "busy", "failed", "canceled":
		end = time.Now().UTC().Format(time.RFC1123Z)
		if c.Status == "completed" {
			duration = fmt.Sprint(max(1, int(time.Since(c.Created).Seconds())))
		}
	}
	return map[string]any{
		"sid": c.SID, "account_sid": tw.AccountSID, "api_version": "2010-04-01", "parent_call_sid": nil,
		"to": c.To, "to_formatted": c.To, "from": c.From, "from_formatted": c.From, "phone_number_sid": nil,
		"status": c.Status, "start_time": start, "end_time": end, "duration": duration, "price": nil, "price_unit": "USD",
		"direction": "outbound-api", "answered_by": nil, "forwarded_from": nil, "group_sid": nil, "caller_name": nil,
		"queue_time": "0", "trunk_sid": nil, "date_created": created, "date_updated": time.Now().UTC().Format(time.RFC1123Z),
		"uri":              uri + ".json",
		"subresource_uris": map[string]string{"notifications": uri + "/Notifications.json", "recordings": uri + "/Recordings.json"},
	}
}

// WaitCalls waits until every placed call has ended (its flow ran to the
// end, the key's answer recorded), or ctx ends.
func (tw *Twilio) WaitCalls(ctx context.Context) error {
	for {
		tw.mu.Lock()
		open := 0
		for _, c := range tw.calls {
			switch c.Status {
			case "completed", "no-answer", "busy", "failed", "canceled":
			default:
				open++
			}
		}
		tw.mu.Unlock()
		if open == 0 {
			return nil
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%d calls still going: %w", open, ctx.Err())
		case <-t.C:
		}
	}
}

package testpeer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	tclient "github.com/twilio/twilio-go/client"
)

// The signer follows Twilio's documented algorithm: the example twilio-go's
// own validator is tested with (client/request_validator_test.go).
func TestTwilioSignatureMatchesTwilioExample(t *testing.T) {
	form := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"},
		"From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	if got, want := TwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form), "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

// A call placed with Url (not inline TwiML): the server fetches the TwiML
// from it and posts the key to the <Gather>'s action, both signed as
// Twilio signs webhooks (twilio-go's own validator agrees), then the call
// completes; its status is served.
func TestTwilioCallFlowWithURL(t *testing.T) {
	tw := StartTwilio(t)
	tw.SetCallFlow(CallFlow{Digits: "4", Ring: 20 * time.Millisecond})
	v := tclient.NewRequestValidator(tw.AuthToken)
	var mu sync.Mutex
	var got []string
	var hook *httptest.Server
	hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form := map[string]string{}
		for k, vs := range r.PostForm {
			form[k] = vs[0]
		}
		mu.Lock()
		got = append(got, fmt.Sprintf("%s digits=%q valid=%v", r.URL.Path, form["Digits"],
			v.Validate(hook.URL+r.URL.RequestURI(), form, r.Header.Get("X-Twilio-Signature"))))
		mu.Unlock()
		if r.URL.Path == "/twiml" {
			fmt.Fprintf(w, `<?xml version="1.0"?><Response><Gather numDigits="1" action="%s/key?x=1"><Say>hello &amp; bye</Say></Gather></Response>`, hook.URL)
			return
		}
		fmt.Fprint(w, `<Response><Say>ok</Say></Response>`)
	}))
	t.Cleanup(hook.Close)
	form := url.Values{"To": {"+393331234567"}, "From": {"+15550001111"}, "Url": {hook.URL + "/twiml"}, "Timeout": {"20"}}
	req, _ := http.NewRequest(http.MethodPost, tw.URL()+"/2010-04-01/Accounts/"+tw.AccountSID+"/Calls.json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(tw.AccountSID, tw.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Sid, Status string }
	_ = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || created.Status != "queued" || !strings.HasPrefix(created.Sid, "CA") {
		t.Fatalf("create: HTTP %d %+v", res.StatusCode, created)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tw.WaitCalls(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{`/twiml digits="" valid=true`, `/key digits="4" valid=true`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("webhooks %q, want %q", got, want)
	}
	c := tw.Calls()[0]
	if c.Status != "completed" || c.Timeout != "20" || fmt.Sprint(c.Said) != "[hello & bye]" || c.Answer != `<Response><Say>ok</Say></Response>` {
		t.Errorf("call %+v", c)
	}
	req, _ = http.NewRequest(http.MethodGet, tw.URL()+"/2010-04-01/Accounts/"+tw.AccountSID+"/Calls/"+created.Sid+".json", nil)
	req.SetBasicAuth(tw.AccountSID, tw.AuthToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fetched struct{ Status, Duration string }
	_ = json.NewDecoder(res.Body).Decode(&fetched)
	res.Body.Close()
	if fetched.Status != "completed" || fetched.Duration == "0" {
		t.Errorf("fetched %+v", fetched)
	}
}

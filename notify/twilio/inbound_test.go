package twilio

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// The inbound webhook against the Twilio-speaking server's signed
// webhooks: a known number's "CODE ACK" reaches OnReply and its
// confirmation goes back; a bad or missing signature and an unknown number
// do nothing.
func TestInboundReplies(t *testing.T) {
	tw := testpeer.StartTwilio(t)
	p, _ := newProvider(t, tw, "twilio-main", nil)
	logs := &testpeer.Buffer{}
	var mu sync.Mutex
	var got []Reply
	in := &Inbound{Accounts: []*Provider{p}, Receivers: map[string]string{"+393331234567": "oncall"},
		Log: slog.New(slog.NewTextHandler(logs, nil)),
		OnReply: func(_ context.Context, r Reply) string {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r)
			return "Acknowledged " + r.Code + " by " + r.Receiver
		}}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	in.URL = srv.URL + InboundPath
	hook := in.URL
	ctx := context.Background()
	replies := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	for _, c := range []struct {
		name, token, from, body string
		status                  int
		confirm                 string // "" none
		acted                   bool
	}{
		{"bad signature", "wrongtoken0123", "+393331234567", "4a7b ACK", 403, "", false},
		{"no signature", "", "+393331234567", "4a7b ACK", 403, "", false},
		{"unknown number", tw.AuthToken, "+393339999999", "4a7b ACK", 200, "", false},
		{"not understood", tw.AuthToken, "+393331234567", "hello?", 200, "Not understood", false},
		{"valid reply", tw.AuthToken, "+393331234567", "4A7B ack", 200, "Acknowledged 4a7b by oncall", true},
		{"verb first, id in brackets", tw.AuthToken, "+393331234567", "ACK [4a7b1c2d3e]", 200, "Acknowledged 4a7b1c2d3e by oncall", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := replies()
			status, conf, err := tw.IncomingSignedWith(ctx, c.token, hook, c.from, "+15550001111", c.body)
			if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Errorf("HTTP %d, want %d", status, c.status)
			}
			if acted := replies() > before; acted != c.acted {
				t.Errorf("acted on: %v, want %v", acted, c.acted)
			}
			switch {
			case c.confirm == "" && len(conf) != 0:
				t.Errorf("confirmation %q sent, want none", conf)
			case c.confirm != "" && (len(conf) != 1 || !strings.HasPrefix(conf[0], c.confirm)):
				t.Errorf("confirmation %q, want %q...", conf, c.confirm)
			}
		})
	}
	if !strings.Contains(logs.String(), "bad or missing signature") || !strings.Contains(logs.String(), "unknown number") {
		t.Errorf("refusals not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), tw.AuthToken) {
		t.Error("the auth token is in the log")
	}
	// A signature over another URL (a proxy rewriting it, a replay to
	// another host) is refused.
	status, _, err := tw.Incoming(ctx, srv.URL+InboundPath+"?x=1", "+393331234567", "+15550001111", "4a7b ACK")
	if err != nil || status != 200 {
		t.Fatalf("with a query string: %d %v", status, err)
	}
	in.URL = "https://vedetta.example" + InboundPath
	if status, _, _ := tw.Incoming(ctx, hook, "+393331234567", "+15550001111", "4a7b ACK"); status != 403 {
		t.Errorf("signed over %s, checked against %s: HTTP %d, want 403", hook, in.URL, status)
	}
}

func TestSMSTextOffersReply(t *testing.T) {
	m := testMessage("+393331234567")
	m.Subject = strings.Repeat("UPS on battery ", 20)
	got := SMSTextReply(m)
	if !strings.HasSuffix(got, " [ab12cd] Reply ab12 ACK/ESC/RES") {
		t.Errorf("text %q does not end with the reply code", got)
	}
	if n, limit := SMSUnits(got); n > limit {
		t.Errorf("%d units, over one SMS (%d)", n, limit)
	}
	if strings.Contains(SMSText(m), "Reply") {
		t.Error("SMSText offers a reply")
	}
}

package testpeer

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mailpit is a real SMTP server with an HTTP API to read what it received.
type Mailpit struct {
	SMTPPort int
	API      string // http://127.0.0.1:port
}

// MailpitBin finds the mailpit binary: $MAILPIT, PATH, $GOBIN/$GOPATH/bin,
// /tmp/rig/bin.
func MailpitBin(t testing.TB) string {
	t.Helper()
	cands := []string{os.Getenv("MAILPIT"), "mailpit", "/tmp/rig/bin/mailpit", "/usr/local/bin/mailpit"}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, "go", "bin", "mailpit"))
	}
	var names []string
	for _, c := range cands {
		if c != "" {
			names = append(names, c)
		}
	}
	return Need(t, names...)
}

// StartMailpit starts a Mailpit on free loopback ports. extra are more
// mailpit flags (e.g. "--enable-chaos").
func StartMailpit(t testing.TB, extra ...string) *Mailpit {
	t.Helper()
	return StartMailpitAt(t, FreePort(t), extra...)
}

// StartMailpitAt starts a Mailpit whose SMTP side listens on smtpPort (a
// relay that "comes back" on the port a daemon already uses).
func StartMailpitAt(t testing.TB, smtpPort int, extra ...string) *Mailpit {
	t.Helper()
	return startMailpit(t, "127.0.0.1", smtpPort, extra...)
}

// StartMailpitOn starts a Mailpit whose SMTP side listens on host (the
// bridge address of a Net, which every namespace reaches).
func StartMailpitOn(t testing.TB, host string, extra ...string) *Mailpit {
	t.Helper()
	return startMailpit(t, host, FreePort(t), extra...)
}

func startMailpit(t testing.TB, host string, smtpPort int, extra ...string) *Mailpit {
	t.Helper()
	bin := MailpitBin(t)
	m := &Mailpit{SMTPPort: smtpPort}
	httpPort := FreePort(t)
	m.API = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	args := append([]string{"--smtp", net.JoinHostPort(host, strconv.Itoa(m.SMTPPort)), "--listen", Addr(httpPort),
		"--disable-version-check", "--smtp-disable-rdns", "--database", filepath.Join(t.TempDir(), "mailpit.db")}, extra...)
	Start(t, nil, bin, args...)
	WaitFor(t, 15*time.Second, "mailpit ready", func() bool {
		r, err := http.Get(m.API + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	return m
}

// Message is the part of Mailpit's message summary the tests use.
type Message struct {
	ID        string
	MessageID string // the Message-ID header: vedetta's delivery key
	Subject   string
	To        []struct{ Address string }
	Snippet   string
}

// Messages lists received messages, newest first.
func (m *Mailpit) Messages(t testing.TB) []Message {
	t.Helper()
	r, err := http.Get(m.API + "/api/v1/messages?limit=5000")
	if err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	defer r.Body.Close()
	var out struct{ Messages []Message }
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	return out.Messages
}

// Matching returns the messages whose subject contains every one of parts.
func (m *Mailpit) Matching(t testing.TB, parts ...string) []Message {
	t.Helper()
	var out []Message
	for _, msg := range m.Messages(t) {
		ok := true
		for _, p := range parts {
			if !strings.Contains(msg.Subject, p) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, msg)
		}
	}
	return out
}

// Text returns the plain-text body of one message.
func (m *Mailpit) Text(t testing.TB, id string) string {
	t.Helper()
	r, err := http.Get(m.API + "/api/v1/message/" + id)
	if err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	defer r.Body.Close()
	var out struct{ Text string }
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	return out.Text
}

// Chaos sets Mailpit's failure injection (needs --enable-chaos), e.g.
// `{"Recipient":{"ErrorCode":451,"Probability":100}}`; "{}" resets.
func (m *Mailpit) Chaos(t testing.TB, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, m.API+"/api/v1/chaos", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpit chaos: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("mailpit chaos: HTTP %d", r.StatusCode)
	}
}

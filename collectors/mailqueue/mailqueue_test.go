package mailqueue

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
)

// fakeCommand writes a script that prints file and exits with code.
func fakeCommand(t *testing.T, file string, code int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake")
	script := fmt.Sprintf("#!/bin/sh\ncat %q\nexit %d\n", file, code)
	if file == "" {
		script = fmt.Sprintf("#!/bin/sh\necho 'postqueue: fatal: Queue report unavailable - mail system is down' >&2\nexit %d\n", code)
	}
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var now = time.Unix(1773144000, 0)

func collect(t *testing.T, src string) ([]model.Sample, error) {
	t.Helper()
	c, err := New(collectors.Spec{Name: "mail", BaseDir: t.TempDir()}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatal(err)
	}
	c.(*Collector).now = func() time.Time { return now }
	return collectortest.Collect(c, 0)
}

func TestPostqueueFixtures(t *testing.T) {
	for _, name := range []string{"postqueue-j.spam", "postqueue-j.empty", "postqueue-j.postfix-3.7.11"} {
		t.Run(name, func(t *testing.T) {
			if name == "postqueue-j.postfix-3.7.11" {
				// captured at 1795777019 + 46 s
				defer func(old time.Time) { now = old }(now)
				now = time.Unix(1795777065, 0)
			}
			fake := fakeCommand(t, filepath.Join(mustAbs(t, "testdata"), name+".json"), 0)
			got, err := collect(t, fmt.Sprintf("mailqueue: {postqueue: %q}", fake))
			if err != nil {
				t.Fatal(err)
			}
			collectortest.Golden(t, filepath.Join("testdata", name+".golden"), collectortest.Render(got))
		})
	}
	fake := fakeCommand(t, filepath.Join(mustAbs(t, "testdata"), "postqueue-j.spam.json"), 0)
	got, _ := collect(t, fmt.Sprintf("mailqueue: {postqueue: %q}", fake))
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mail_queue_messages", []string{"queue", "active"}, 9}, // 8 + the one listed twice
		{"mail_queue_messages", []string{"queue", "incoming"}, 0},
		{"mail_queue_messages", []string{"queue", "deferred"}, 7},
		{"mail_queue_messages", []string{"queue", "hold"}, 1},
		{"mail_queue_oldest_seconds", nil, 2 * 86400},
		{"mail_queue_top_sender", []string{"sender", "newsletter@compromised.example"}, 13},
		{"mail_queue_top_senders", []string{"sender", "<>"}, 1},
	}
	for _, ck := range checks {
		if v, ok := collectortest.Value(got, ck.name, ck.labels...); !ok || v != ck.want {
			t.Errorf("%s%v = %v (present %v), want %v", ck.name, ck.labels, v, ok, ck.want)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBadOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"queue_name": "active", "queue_id": "A1", "arrival_time": 1773143000, "message_size": 1, "sender": "a@b", "recipients": []}` + "\n"
	cases := []struct {
		name, file string
		code       int
		wantErr    string
		active     float64
		present    bool
	}{
		{"mail system down", "", 69, "mail system is down", 0, false},
		{"truncated JSON", write("trunc", good+`{"queue_name": "act`), 0, "line 2", 1, true},
		{"not JSON at all (postqueue -p by mistake)", write("text", "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"), 0, "line 1", 0, true},
		{"object without queue id", write("noid", `{"queue_name": "active"}`+"\n"), 0, "no queue_name or queue_id", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, fmt.Sprintf("mailqueue: {postqueue: %q}", fakeCommand(t, tc.file, tc.code)))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			v, ok := collectortest.Value(got, "mail_queue_messages", "queue", "active")
			if ok != tc.present || v != tc.active {
				t.Errorf("active = %v (present %v), want %v (present %v)", v, ok, tc.active, tc.present)
			}
		})
	}
}

func TestExim(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "count")
	_ = os.WriteFile(p, []byte("42\n"), 0o644)
	got, err := collect(t, fmt.Sprintf("mailqueue: {exim: %q}", fakeCommand(t, p, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := collectortest.Value(got, "mail_queue_messages", "queue", "exim"); v != 42 {
		t.Errorf("exim queue = %v, want 42", v)
	}
}

// TestMaillog follows a mail log: only postfix/smtp deliveries written
// after the first round count, per status.
func TestMaillog(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mail.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, "Mar 10 11:00:00 mx postfix/smtp[100]: 4QOLD1: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)")
	p := filepath.Join(dir, "empty.json")
	_ = os.WriteFile(p, nil, 0o644)
	c, err := New(collectors.Spec{Name: "mail", BaseDir: dir}, collectortest.DecodeYAML(fmt.Sprintf("mailqueue: {postqueue: %q, maillog: mail.log}", fakeCommand(t, p, 0))))
	if err != nil {
		t.Fatal(err)
	}
	round := func() []model.Sample {
		got, err := collectortest.Collect(c, 0)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	round()
	lines := []string{
		"Mar 10 12:00:01 mx postfix/smtp[201]: 4Q1: to=<v1@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=0.4, delays=0.1/0/0.2/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99)",
		"2026-03-10T12:00:02.000000+00:00 mx postfix-out/smtp[202]: 4Q2: to=<v2@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=0.4, dsn=2.0.0, status=sent (250 ok)",
		"Mar 10 12:00:03 mx postfix/smtp[203]: 4Q3: to=<v3@example.net>, relay=none, delay=30, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.25]:25: Connection timed out)",
		"Mar 10 12:00:04 mx postfix/smtp[204]: 4Q4: to=<nobody@example.com>, relay=mx.example.com[198.51.100.9]:25, dsn=5.1.1, status=bounced (host said: 550 5.1.1 unknown user)",
		"Mar 10 12:00:05 mx postfix/local[205]: 4Q5: to=<root@mx.example>, relay=local, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Mar 10 12:00:06 mx postfix/smtpd[206]: connect from unknown[203.0.113.5]",
	}
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
	got := round()
	for st, want := range map[string]float64{"sent": 2, "deferred": 1, "bounced": 1} {
		if v, _ := collectortest.Value(got, "mail_"+st+"_total"); v != want {
			t.Errorf("mail_%s_total = %v, want %v", st, v, want)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"mailqueue: {postqueue: /usr/sbin/postqueue}", ""},
		{"mailqueue: {}", ""},
		{"mailqueue: {postqueue: a, exim: b}", "not both"},
		{"mailqueue: {top_senders: 0}", ""},
		{"mailqueue: {top_senders: 99}", "top_senders"},
	} {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

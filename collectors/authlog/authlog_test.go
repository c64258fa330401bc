package authlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

type harness struct {
	t     *testing.T
	c     *Collector
	clock time.Time
}

func newHarness(t *testing.T, src string) *harness {
	t.Helper()
	c, err := New(collectors.Spec{Name: "ssh", BaseDir: t.TempDir()}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c.(*Collector), clock: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	h.c.now = func() time.Time { return h.clock }
	return h
}

// round collects once and returns the samples, stamped, after moving the
// clock a minute on.
func (h *harness) round() []model.Sample {
	h.t.Helper()
	var got []model.Sample
	if err := h.c.Collect(context.Background(), func(s model.Sample) {
		s.Time = h.clock
		got = append(got, s)
	}); err != nil {
		h.t.Fatalf("Collect: %v", err)
	}
	h.clock = h.clock.Add(time.Minute)
	return got
}

func appendLines(t *testing.T, f *os.File, from, n int, src string) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := fmt.Fprintf(f, "Mar 10 12:%02d:%02d bastion sshd[%d]: Failed password for root from %s port %d ssh2\n", i/60, i%60, 5000+i, src, 40000+i); err != nil {
			t.Fatal(err)
		}
	}
}

func openAppend(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRotationAlarm is the acceptance case: 30 failed ssh logins written to
// a file that is rotated halfway (rename + new file; the writer finishes a
// few lines in the old file first) count exactly 30 and raise exactly one
// alarm with the shipped rule, naming the top source address.
func TestRotationAlarm(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	old := openAppend(t, logPath)
	appendLines(t, old, 0, 50, "192.0.2.200") // history before vedetta started: not counted
	h := newHarness(t, fmt.Sprintf("authlog: {path: %q}", logPath))
	e := rules.New(rules.Options{Rules: rulestest.Shipped(t, "authlog.yaml"), Now: func() time.Time { return h.clock },
		Intervals: map[string]time.Duration{"ssh": time.Minute}})
	ingest := func(samples []model.Sample) {
		b := model.Batch{Target: "ssh"}
		for _, s := range samples {
			s.Labels = s.Labels.With("target", "ssh").With("class", "authlog")
			b.Samples = append(b.Samples, s)
		}
		e.Ingest(b)
	}
	ingest(h.round())

	appendLines(t, old, 100, 12, "203.0.113.7")
	appendLines(t, old, 200, 3, "198.51.100.4")
	ingest(h.round())
	// logrotate: rename, the daemon still writes 3 lines to the old file,
	// then reopens the new one.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, old, 300, 3, "203.0.113.7")
	old.Close()
	cur := openAppend(t, logPath)
	appendLines(t, cur, 400, 10, "203.0.113.7")
	appendLines(t, cur, 500, 2, "198.51.100.4")
	got := h.round()
	ingest(got)
	ingest(h.round())

	if v, _ := collectortest.Value(got, "auth_failures_total", "service", "sshd"); v != 30 {
		t.Errorf("auth_failures_total{sshd} = %v, want 30", v)
	}
	if v, _ := collectortest.Value(got, "authlog_rotations_total"); v != 1 {
		t.Errorf("authlog_rotations_total = %v, want 1", v)
	}
	if v, ok := collectortest.Value(got, "auth_failures_top_source", "source", "203.0.113.7"); !ok || v != 25 {
		t.Errorf("auth_failures_top_source{203.0.113.7} = %v %v, want 25", v, ok)
	}
	if v, _ := collectortest.Value(got, "auth_failures_top_sources", "source", "198.51.100.4"); v != 5 {
		t.Errorf("auth_failures_top_sources{198.51.100.4} = %v, want 5", v)
	}
	var firing []model.Alarm
	for _, a := range e.Alarms() {
		if a.State == model.StateFiring {
			firing = append(firing, a)
		}
	}
	if len(firing) != 1 {
		t.Fatalf("%d alarms firing, want exactly 1: %+v", len(firing), firing)
	}
	if s := firing[0].Summary; !strings.Contains(s, "203.0.113.7") || !strings.Contains(s, "30 failed sshd logins") {
		t.Errorf("summary %q: want the count and the top source", s)
	}
	t.Logf("alarm: %s", firing[0].Summary)
}

func TestTruncation(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "secure")
	f := openAppend(t, logPath)
	h := newHarness(t, fmt.Sprintf("authlog: {path: %q}", logPath))
	h.round()
	appendLines(t, f, 0, 20, "203.0.113.7")
	h.round()
	// copytruncate, then the daemon goes on writing (O_APPEND: at the start).
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, f, 100, 4, "203.0.113.8")
	got := h.round()
	if v, _ := collectortest.Value(got, "auth_failures_total", "service", "sshd"); v != 24 {
		t.Errorf("auth_failures_total = %v, want 24", v)
	}
	if v, _ := collectortest.Value(got, "authlog_rotations_total"); v != 1 {
		t.Errorf("authlog_rotations_total = %v, want 1", v)
	}
}

func TestPartialLinesAndMissingFile(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "auth.log")
	h := newHarness(t, fmt.Sprintf("authlog: {path: %q, from_start: true}", logPath))
	if err := h.c.Collect(context.Background(), func(model.Sample) {}); err == nil {
		t.Error("no error for a missing log file")
	}
	f := openAppend(t, logPath)
	line := "Mar 10 12:00:01 bastion sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2\n"
	f.WriteString(line + line[:30])
	if v, _ := collectortest.Value(h.round(), "auth_failures_total", "service", "sshd"); v != 1 {
		t.Errorf("after a line and a half: %v, want 1", v)
	}
	f.WriteString(line[30:])
	if v, _ := collectortest.Value(h.round(), "auth_failures_total", "service", "sshd"); v != 2 {
		t.Errorf("after the rest of the line: %v, want 2", v)
	}
	// The window forgets: 11 minutes later no top source is left.
	h.clock = h.clock.Add(11 * time.Minute)
	if _, ok := collectortest.Value(h.round(), "auth_failures_top_source"); ok {
		t.Error("top source still reported after the window")
	}
}

// TestJournal feeds a fake journalctl: the first run only positions (the
// cursor of the last entry), later runs read after the cursor.
func TestJournal(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "journalctl")
	script := `#!/bin/sh
echo "$@" >> "` + dir + `/args"
case "$*" in
  *"-n 1"*) echo '{"__CURSOR":"c1","SYSLOG_IDENTIFIER":"sshd","_PID":"1","MESSAGE":"Failed password for root from 192.0.2.1 port 1 ssh2"}' ;;
  *after-cursor=c1*)
    echo '{"__CURSOR":"c2","SYSLOG_IDENTIFIER":"sshd","_PID":"7","MESSAGE":"Failed password for root from 203.0.113.7 port 1 ssh2"}'
    echo '{"__CURSOR":"c3","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"8","MESSAGE":[73,110,118,97,108,105,100,32,117,115,101,114,32,120,32,102,114,111,109,32,50,48,51,46,48,46,49,49,51,46,55]}'
    echo '{"__CURSOR":"c4","SYSLOG_IDENTIFIER":"sudo","MESSAGE":"   bob : 2 incorrect password attempts ; TTY=pts/0"}' ;;
  *after-cursor=c4*) ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, fmt.Sprintf("authlog: {journalctl: %q}", fake))
	first := h.round()
	if v, _ := collectortest.Value(first, "auth_failures_total", "service", "sshd"); v != 0 {
		t.Errorf("first round counted the journal's past: %v", v)
	}
	got := h.round()
	if v, _ := collectortest.Value(got, "auth_failures_total", "service", "sshd"); v != 2 {
		t.Errorf("sshd = %v, want 2", v)
	}
	if v, _ := collectortest.Value(got, "auth_failures_total", "service", "sudo"); v != 2 {
		t.Errorf("sudo = %v, want 2", v)
	}
	if v, _ := collectortest.Value(got, "auth_failures_top_source", "source", "203.0.113.7"); v != 2 {
		t.Errorf("top source = %v, want 203.0.113.7 with 2", v)
	}
	h.round()
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if !strings.Contains(string(args), "--after-cursor=c4") || !strings.Contains(string(args), "SYSLOG_FACILITY=10") {
		t.Errorf("journalctl arguments:\n%s", args)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"authlog: {path: /var/log/auth.log}", ""},
		{"authlog: {}", ""},
		{"authlog: {top_sources: 50}", "top_sources"},
		{"authlog: {top_window: 10s}", "top_window"},
		{"authlog: {pth: x}", "not found"},
	} {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

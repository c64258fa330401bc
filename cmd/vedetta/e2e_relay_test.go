package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// A relay that accepts TCP and never greets, end to end: the daemon fails
// over past it within the relay's timeout, and a send stuck in it does not
// hold up a SIGTERM.

// blackholeRelay is the relay entry of a blackhole.
func blackholeRelay(b *testpeer.Blackhole, timeout string) string {
	return fmt.Sprintf("{host: 127.0.0.1, port: %d, tls: none, timeout: %s}", b.Port, timeout)
}

type apiDelivery struct {
	Channel, State, Provider, LastError string
}

func (d *daemonProc) deliveries(rule string) []apiDelivery {
	d.t.Helper()
	for _, a := range d.alerts() {
		if a.Rule != rule {
			continue
		}
		code, body := d.get("/api/v1/alerts/" + a.ID)
		if code != 200 {
			d.t.Fatalf("/api/v1/alerts/%s: HTTP %d %s", a.ID, code, body)
		}
		var v struct{ Deliveries []apiDelivery }
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			d.t.Fatalf("/api/v1/alerts/%s: %v", a.ID, err)
		}
		return v.Deliveries
	}
	return nil
}

// The first relay never greets (timeout: 2s), the second is Mailpit: the
// alarm's e-mail arrives through the second within the first's timeout
// plus slack.
func TestE2ERelayBlackholeFailover(t *testing.T) {
	t.Parallel()
	bh := testpeer.StartBlackhole(t)
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, blackholeRelay(bh, "2s"), relay(mp.SMTPPort))
	d := startDaemon(t, c.write(t), c.HTTPPort)

	hot := time.Now()
	writeFile(t, c.ValueFile, "rack_temperature_celsius 40\n")
	testpeer.WaitFor(t, 10*time.Second, "RackTooHot firing", func() bool { return d.alertState("RackTooHot") == "firing" })
	fired := time.Now()
	testpeer.WaitFor(t, 10*time.Second, "the e-mail in Mailpit", func() bool { return len(mp.Matching(t, "FIRING", "RackTooHot")) == 1 })
	took := time.Since(fired)
	t.Logf("e-mail in Mailpit %v after the alarm fired (%v after the value went hot); the blackhole relay got %d connection(s)",
		took.Round(time.Millisecond), time.Since(hot).Round(time.Millisecond), bh.Accepted.Load())
	if took > 6*time.Second {
		t.Fatalf("the e-mail took %v from firing, want < 6s (relay timeout 2s + slack)", took)
	}
	if bh.Accepted.Load() == 0 {
		t.Fatal("the blackhole relay was never tried: the test proves nothing")
	}
	want := fmt.Sprintf("127.0.0.1:%d", mp.SMTPPort)
	testpeer.WaitFor(t, 3*time.Second, "the ledger naming the second relay", func() bool {
		for _, x := range d.deliveries("RackTooHot") {
			if x.Channel == "email" && x.State == "delivered" && x.Provider == want {
				return true
			}
		}
		return false
	})
}

// The only relay never greets and has a long timeout (30s); SIGTERM while
// the alarm's e-mail is stuck in it: the daemon exits within 2 s.
func TestE2ERelayBlackholeShutdown(t *testing.T) {
	t.Parallel()
	bh := testpeer.StartBlackhole(t)
	c := newE2EConfig(t, blackholeRelay(bh, "30s"))
	d := startDaemon(t, c.write(t), c.HTTPPort)

	writeFile(t, c.ValueFile, "rack_temperature_celsius 40\n")
	testpeer.WaitFor(t, 10*time.Second, "the e-mail in flight in the blackhole relay", func() bool {
		if bh.Accepted.Load() == 0 {
			return false
		}
		for _, x := range d.deliveries("RackTooHot") {
			if x.Channel == "email" && x.State == "sending" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond) // well inside the blackhole, far from its timeout

	sent := time.Now()
	d.signal(syscall.SIGTERM)
	select {
	case <-d.proc.Done():
	case <-time.After(12 * time.Second):
		t.Fatalf("vedetta still running %v after SIGTERM", time.Since(sent))
	}
	took := time.Since(sent)
	out := d.proc.Output()
	t.Logf("vedetta exited %v after SIGTERM (exit code %d)", took.Round(time.Millisecond), d.proc.Cmd.ProcessState.ExitCode())
	if strings.Contains(out, "workers did not stop") {
		t.Errorf("the daemon gave up waiting for its workers:\n%s", lastLines(out, 15))
	}
	if took > 2*time.Second {
		t.Fatalf("vedetta took %v to exit after SIGTERM, want < 2s:\n%s", took, lastLines(out, 15))
	}
	if code := d.proc.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

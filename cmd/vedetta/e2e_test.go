package main

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Raising the value yields exactly one firing e-mail within interval + for
// + 2 s, through the second relay because the first refuses connections;
// lowering it yields exactly one resolved e-mail. Meanwhile the API shows
// the alarm and /metrics carries the sample and vedetta's own metrics.
func TestE2EFiringAndResolvedEmail(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(closedPort(t)), relay(mp.SMTPPort))
	d := startDaemon(t, c.write(t), c.HTTPPort)

	testpeer.WaitFor(t, 5*time.Second, "the sample in /metrics", func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, `rack_temperature_celsius{class="exec",target="rack1"} 21`) &&
			strings.Contains(m, "vedetta_target_up{") && strings.Contains(m, "vedetta_rule_evaluation_seconds")
	})

	raised := time.Now()
	writeFile(t, c.ValueFile, "rack_temperature_celsius 41.5\n")
	// interval 1s + for 1s + 2s
	testpeer.WaitFor(t, 4*time.Second, "the firing e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "RackTooHot")) > 0
	})
	t.Logf("firing e-mail %v after the change", time.Since(raised).Round(time.Millisecond))
	if got := d.alertState("RackTooHot"); got != "firing" {
		t.Fatalf("API state = %q, want firing", got)
	}
	msg := mp.Matching(t, "FIRING", "RackTooHot")[0]
	body := mp.Text(t, msg.ID)
	for _, want := range []string{"Alarm id:", "Target:    rack1", "Value:     41.5", "Severity:  critical", "Site:      e2e", "Firing:"} {
		if !strings.Contains(body, want) {
			t.Errorf("firing e-mail lacks %q:\n%s", want, body)
		}
	}
	if len(msg.To) != 1 || msg.To[0].Address != "noc@e2e.example" {
		t.Errorf("firing e-mail to %v", msg.To)
	}

	// Hysteresis: 32 is below the threshold but above clear: still firing.
	writeFile(t, c.ValueFile, "rack_temperature_celsius 32\n")
	time.Sleep(2500 * time.Millisecond)
	if n := len(mp.Matching(t, "RESOLVED")); n != 0 {
		t.Fatalf("resolved while between the thresholds (%d e-mails)", n)
	}
	writeFile(t, c.ValueFile, "rack_temperature_celsius 22\n")
	testpeer.WaitFor(t, 5*time.Second, "the resolved e-mail", func() bool {
		return len(mp.Matching(t, "RESOLVED", "RackTooHot")) > 0
	})
	time.Sleep(2 * time.Second) // room for a duplicate to show up
	if n := len(mp.Matching(t, "FIRING", "RackTooHot")); n != 1 {
		t.Errorf("%d firing e-mails, want exactly 1", n)
	}
	if n := len(mp.Matching(t, "RESOLVED", "RackTooHot")); n != 1 {
		t.Errorf("%d resolved e-mails, want exactly 1", n)
	}
	if !strings.Contains(d.proc.Output(), "ALARM FIRING") {
		t.Error("the log channel did not print the alarm")
	}
	_, m := d.get("/metrics")
	// Two for the rule, maybe more: the dead first relay fails its health
	// probe, which is an alarm of its own.
	if !regexp.MustCompile(`vedetta_notifications_total\{channel="email",result="sent"\} [2-9]`).MatchString(m) {
		t.Errorf("/metrics lacks the sent notifications counter")
	}
	if !strings.Contains(m, `vedetta_notification_attempts_total{channel="email",provider="127.0.0.1:`) || !strings.Contains(m, `result="failed_temporary"`) {
		t.Errorf("/metrics does not count the refused relay")
	}
}

// The first relay answers 451 to every recipient: the second carries it.
func TestE2ERelay4xxFailsOver(t *testing.T) {
	t.Parallel()
	bad := testpeer.StartMailpit(t, "--enable-chaos")
	bad.Chaos(t, `{"Recipient":{"ErrorCode":451,"Probability":100}}`)
	good := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(bad.SMTPPort), relay(good.SMTPPort))
	c.For = "0s"
	startDaemon(t, c.write(t), c.HTTPPort)
	writeFile(t, c.ValueFile, "rack_temperature_celsius 50\n")
	testpeer.WaitFor(t, 5*time.Second, "the e-mail through the second relay", func() bool {
		return len(good.Matching(t, "FIRING", "RackTooHot")) == 1
	})
	if n := len(bad.Messages(t)); n != 0 {
		t.Errorf("the refusing relay stored %d messages", n)
	}
}

// kill -9 while firing, restart: still firing, no second firing e-mail,
// and the resolved e-mail still comes.
func TestE2EKill9KeepsAlarm(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(mp.SMTPPort))
	cfg := c.write(t)
	d := startDaemon(t, cfg, c.HTTPPort)
	writeFile(t, c.ValueFile, "rack_temperature_celsius 45\n")
	testpeer.WaitFor(t, 5*time.Second, "the firing e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "RackTooHot")) == 1
	})
	// Recorded as delivered: a kill before that would send it again (the
	// stated bound: a send in flight at the kill), after it never.
	testpeer.WaitFor(t, 5*time.Second, "the delivery recorded", func() bool {
		ds := d.deliveries("RackTooHot")
		return len(ds) == 1 && ds[0].State == "delivered"
	})
	d.kill9()

	d2 := startDaemon(t, cfg, c.HTTPPort)
	if got := d2.alertState("RackTooHot"); got != "firing" {
		t.Fatalf("after kill -9 and restart the alarm is %q, want firing", got)
	}
	time.Sleep(4 * time.Second) // several polls with the value still high
	if n := len(mp.Matching(t, "FIRING", "RackTooHot")); n != 1 {
		t.Fatalf("%d firing e-mails after the restart, want 1 (no duplicate)", n)
	}
	writeFile(t, c.ValueFile, "rack_temperature_celsius 20\n")
	testpeer.WaitFor(t, 5*time.Second, "the resolved e-mail after the restart", func() bool {
		return len(mp.Matching(t, "RESOLVED", "RackTooHot")) == 1
	})
}

// SIGHUP with a broken config: the daemon logs why and keeps running on
// the old config; a good config is then taken.
func TestE2EReload(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	c := newE2EConfig(t, relay(mp.SMTPPort))
	cfg := c.write(t)
	d := startDaemon(t, cfg, c.HTTPPort)

	broken := strings.Replace(c.yaml(), "    interval: 1s", "    interval: 1s\n    intervall: 5s", 1)
	writeFile(t, cfg, broken)
	d.signal(syscall.SIGHUP)
	testpeer.WaitFor(t, 5*time.Second, "the refused reload in the log", func() bool {
		return strings.Contains(d.proc.Output(), "reload refused")
	})
	out := d.proc.Output()
	if !strings.Contains(out, cfg+":9: targets[0].intervall: unknown field") {
		t.Errorf("the log does not say where the error is:\n%s", out)
	}
	// Still running on the old config: the old rule still fires.
	writeFile(t, c.ValueFile, "rack_temperature_celsius 40\n")
	testpeer.WaitFor(t, 5*time.Second, "the alarm from the old config", func() bool {
		return len(mp.Matching(t, "FIRING", "RackTooHot")) == 1
	})

	// A good config with a higher threshold: the alarm resolves.
	c.For = "0s"
	good := strings.Replace(c.yaml(), "rack_temperature_celsius > 35", "rack_temperature_celsius > 45", 1)
	good = strings.Replace(good, "rack_temperature_celsius < 30", "rack_temperature_celsius < 42", 1)
	writeFile(t, cfg, good)
	d.signal(syscall.SIGHUP)
	testpeer.WaitFor(t, 5*time.Second, "the config reloaded", func() bool {
		return strings.Contains(d.proc.Output(), "config reloaded")
	})
	testpeer.WaitFor(t, 5*time.Second, "the resolved e-mail under the new threshold", func() bool {
		return len(mp.Matching(t, "RESOLVED", "RackTooHot")) == 1
	})
	if d.proc.Exited() {
		t.Fatal("the daemon died")
	}
}

// A bad config at start: refuse to start, name the file, line and field.
func TestE2ERefusesBadConfig(t *testing.T) {
	t.Parallel()
	c := newE2EConfig(t, relay(closedPort(t)))
	cfg := c.write(t)
	writeFile(t, cfg, strings.Replace(c.yaml(), "for: 1s", "for: 1 minute", 1))
	p := testpeer.Start(t, nil, vedettaBin(t), "run", "--config", cfg)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("vedetta started with a bad config")
	}
	if p.Cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", p.Cmd.ProcessState.ExitCode())
	}
	if !strings.Contains(p.Output(), cfg+":16: rules[0].for: invalid duration") {
		t.Errorf("unclear error:\n%s", p.Output())
	}
}

// Type=notify: READY=1 once serving; SIGTERM stops cleanly and promptly.
func TestE2ESystemdNotifyAndStop(t *testing.T) {
	t.Parallel()
	sock := listenNotify(t)
	c := newE2EConfig(t, relay(closedPort(t)))
	d := startDaemon(t, c.write(t), c.HTTPPort, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=2000000", "WATCHDOG_PID=")
	sock.expect(t, "READY=1", 5*time.Second)
	sock.expect(t, "WATCHDOG=1", 5*time.Second)
	stopAt := time.Now()
	d.signal(syscall.SIGTERM)
	select {
	case <-d.proc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("vedetta did not stop within 10s of SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
	if code := d.proc.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	sock.expect(t, "STOPPING=1", time.Second)
}

// With no config at all, `vedetta run` watches this host on the built-in
// default and serves its samples.
func TestE2EBuiltinDefault(t *testing.T) {
	t.Parallel()
	port := testpeer.FreePort(t)
	state := t.TempDir()
	if _, err := os.Stat("/etc/vedetta/vedetta.yaml"); err == nil {
		t.Fatal("/etc/vedetta/vedetta.yaml exists on this machine: the built-in default cannot be tested")
	}
	p := testpeer.Start(t, []string{"VEDETTA_LISTEN=127.0.0.1:" + itoa(port), "STATE_DIRECTORY=" + state}, vedettaBin(t), "run")
	d := &daemonProc{t: t, proc: p, http: "http://127.0.0.1:" + itoa(port)}
	testpeer.WaitFor(t, 10*time.Second, "host samples in /metrics", func() bool {
		if p.Exited() {
			t.Fatalf("exited:\n%s", p.Output())
		}
		code, body := getQuiet(d.http + "/metrics")
		return code == 200 && strings.Contains(body, `host_filesystem_used_ratio{class="host",device=`) &&
			strings.Contains(body, `host_memory_used_ratio{class="host",target="localhost"}`)
	})
	if !strings.Contains(p.Output(), "built-in default") {
		t.Errorf("the log does not say it runs on the built-in default:\n%s", p.Output())
	}
}

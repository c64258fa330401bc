package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Delivery end to end: the real daemon, a real Mailpit, a Twilio-speaking
// server, driven through the exec collector reading a file.

const apiToken = "e2etoken0123456789"

type deliveryRig struct {
	t        *testing.T
	dir      string
	valueF   string
	httpPort int
	twilio   *testpeer.Twilio
	cfg      string
	d        *daemonProc
}

// deliveryConfig is a config with e-mail (relays as given), Twilio SMS and
// the routes, rules and extra top-level YAML of a test.
type deliveryConfig struct {
	relays      []string
	rules       string
	routes      string
	extra       string // top-level YAML
	notifyExtra string // more keys under notify:
	smsGap      string
	failover    string // notify.sms.failover_after; 1s unless told
	mainTimeout string // twilio-main's timeout; 2s unless told
	httpPort    int    // 0: a free one
	httpExtra   string // more keys under http:
	smsExtra    string // more SMS providers
}

func newDeliveryRig(t *testing.T, c deliveryConfig) *deliveryRig {
	t.Helper()
	r := &deliveryRig{t: t, dir: t.TempDir(), httpPort: c.httpPort, twilio: testpeer.StartTwilio(t)}
	if r.httpPort == 0 {
		r.httpPort = testpeer.FreePort(t)
	}
	r.valueF = filepath.Join(r.dir, "values.prom")
	writeFile(t, r.valueF, "")
	writeFile(t, filepath.Join(r.dir, "token"), apiToken+"\n")
	writeFile(t, filepath.Join(r.dir, "twilio.token"), r.twilio.AuthToken+"\n")
	if c.smsGap == "" {
		c.smsGap = "100ms"
	}
	if c.failover == "" {
		c.failover = "1s"
	}
	if c.mainTimeout == "" {
		c.mainTimeout = "2s"
	}
	if c.routes == "" {
		c.routes = "  - receivers: [oncall]\n"
	}
	yaml := fmt.Sprintf(`site: e2e
state_dir: %s/state
http:
  listen: 127.0.0.1:%d
  token_file: token
%stargets:
  - name: sw1
    kind: exec
    interval: 1s
    exec:
      command: [cat, %s]
      format: prometheus
rules:
%s
notify:
%s  email:
    from: vedetta@e2e.example
    timeout: 2s
    relays:
%s
  sms:
    min_interval: %s
    failover_after: %s
    providers:
      - name: twilio-main
        twilio: {account_sid: %s, auth_token_file: twilio.token, from: "+15550001111", api_url: "%s", status_poll: 50ms, status_timeout: 2s, timeout: %s}
%s
receivers:
  - {name: oncall, email: [oncall@e2e.example], sms: ["+390000000001"]}
  - {name: backup, sms: ["+390000000002"]}
routes:
%s
%s
`, r.dir, r.httpPort, c.httpExtra, r.valueF, c.rules, c.notifyExtra, "      - "+strings.Join(c.relays, "\n      - "), c.smsGap, c.failover,
		r.twilio.AccountSID, r.twilio.URL(), c.mainTimeout, c.smsExtra, c.routes, c.extra)
	r.cfg = filepath.Join(r.dir, "vedetta.yaml")
	writeFile(t, r.cfg, yaml)
	return r
}

func (r *deliveryRig) start() { r.d = startDaemon(r.t, r.cfg, r.httpPort) }

func (r *deliveryRig) values(v string) { writeFile(r.t, r.valueF, v) }

// sms returns the bodies Twilio accepted for a number.
func (r *deliveryRig) sms(to string) []string {
	var out []string
	for _, m := range r.twilio.Messages() {
		if m.To == to {
			out = append(out, m.Body)
		}
	}
	return out
}

func ports(n int, state string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "if_oper_up{ifname=\"ge-0/0/%d\"} %s\n", i, state)
	}
	return b.String()
}

const portDownRule = `  - name: PortDown
    expr: if_oper_up == 0
    severity: critical
    summary: "{{ .Labels.ifname }} down"`

// A critical alarm reaches SMS and e-mail; 40 ports of one switch going
// down within group_wait are one SMS and one e-mail listing them.
func TestE2EGroupedSMSAndEmail(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	r := newDeliveryRig(t, deliveryConfig{
		relays: []string{relay(closedPort(t)), relay(mp.SMTPPort)}, rules: portDownRule,
		routes: "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms, email]\n    group_by: [target]\n    group_wait: 3s\n",
	})
	r.values(ports(40, "1"))
	r.start()
	time.Sleep(1500 * time.Millisecond)
	r.values(ports(40, "0"))
	testpeer.WaitFor(t, 10*time.Second, "one grouped e-mail", func() bool { return len(mp.Matching(t, "40 alarms on sw1")) == 1 })
	testpeer.WaitFor(t, 5*time.Second, "one grouped SMS", func() bool { return len(r.sms("+390000000001")) == 1 })
	time.Sleep(2 * time.Second)
	if n := len(mp.Messages(t)); n != 1 {
		t.Errorf("%d e-mails, want 1", n)
	}
	if n := len(r.sms("+390000000001")); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
	body := mp.Text(t, mp.Messages(t)[0].ID)
	for i := 0; i < 40; i++ {
		if !strings.Contains(body, fmt.Sprintf("ge-0/0/%d down", i)) {
			t.Fatalf("the e-mail does not list ge-0/0/%d:\n%s", i, body)
		}
	}
	if s := r.sms("+390000000001")[0]; !strings.Contains(s, "40 alarms") || len([]rune(s)) > 160 {
		t.Errorf("SMS %q", s)
	}
}

// Every SMTP relay down: the SMS still goes out, and so does the
// NotificationChannelDown alarm, by SMS.
func TestE2EEmailDownSMSStillDelivers(t *testing.T) {
	t.Parallel()
	r := newDeliveryRig(t, deliveryConfig{
		relays: []string{relay(closedPort(t)), relay(closedPort(t))}, rules: portDownRule,
		routes: "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms, email]\n",
	})
	r.values(ports(1, "1"))
	r.start()
	r.values(ports(1, "0"))
	testpeer.WaitFor(t, 10*time.Second, "the port alarm by SMS", func() bool {
		return anyContains(r.sms("+390000000001"), "PortDown")
	})
	testpeer.WaitFor(t, 15*time.Second, "NotificationChannelDown by SMS", func() bool {
		return anyContains(r.sms("+390000000001"), "NotificationChannelDown")
	})
	if s := strings.Join(r.sms("+390000000001"), "\n"); !strings.Contains(s, "email") {
		t.Errorf("the channel-down SMS does not name the channel:\n%s", s)
	}
}

func anyContains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// kill -9 with 50 notifications queued while every channel fails; restart
// with the channels healthy: all 50 arrive, none twice.
func TestE2EKill9With50Queued(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(port)}, rules: portDownRule,
		routes: "  - receivers: [oncall]\n    channels: [email, sms]\n", smsGap: "1m"})
	r.twilio.FailCreate(500, 20500)
	r.values(ports(50, "1"))
	r.start()
	r.values(ports(50, "0"))
	testpeer.WaitFor(t, 15*time.Second, "50 e-mails queued and failing", func() bool {
		code, body := r.d.get("/api/v1/alerts")
		return code == 200 && strings.Count(body, `"rule": "PortDown"`) == 50 && r.twilio.Attempts() > 0
	})
	time.Sleep(time.Second) // every delivery tried at least once
	r.d.kill9()

	mp := testpeer.StartMailpitAt(t, port)
	r.twilio.Reset()
	r.start()
	testpeer.WaitFor(t, 30*time.Second, "50 e-mails after the restart", func() bool { return len(mp.Matching(t, "FIRING", "PortDown")) >= 50 })
	time.Sleep(2 * time.Second)
	seen := map[string]int{}
	all := mp.Matching(t, "FIRING", "PortDown")
	for _, m := range all {
		seen[m.Subject]++
	}
	dups := len(all) - len(seen)
	t.Logf("%d PortDown e-mails, %d distinct, %d duplicates; %d e-mails in all; %d SMS", len(all), len(seen), dups, len(mp.Messages(t)), len(r.sms("+390000000001")))
	if len(seen) != 50 || dups != 0 {
		t.Fatalf("%d distinct e-mails and %d duplicates, want 50 and 0 (nothing was delivered before the kill, so nothing may repeat)", len(seen), dups)
	}
	// The SMS went out too: one, then a digest for the rest (throttled per number).
	testpeer.WaitFor(t, 5*time.Second, "the SMS after the restart", func() bool { return len(r.sms("+390000000001")) >= 1 })
}

// Unacknowledged, a critical escalates to the backup after `after`;
// acknowledged (CLI or API), it does not. Writes need the token.
func TestE2EEscalationAndAck(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(mp.SMTPPort)},
		rules: `  - name: PortDown
    expr: if_oper_up == 0
    severity: critical
    summary: "{{ .Labels.ifname }} down"`,
		routes: "  - receivers: [oncall]\n    channels: [email]\n    escalate:\n      - {after: 4s, receivers: [backup]}\n"})
	r.values(ports(3, "1"))
	r.start()
	r.values(ports(3, "0"))
	testpeer.WaitFor(t, 5*time.Second, "three alarms", func() bool { return len(mp.Messages(t)) == 3 })
	ids := map[string]string{}
	for _, a := range r.d.alerts() {
		ids[a.Labels["ifname"]] = a.ID
	}
	// No token: refused.
	resp, err := http.Post(r.d.http+"/api/v1/alerts/"+ids["ge-0/0/0"]+"/ack", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ack without token: HTTP %d, want 401", resp.StatusCode)
	}
	// Ack ge-0/0/0 through the API and ge-0/0/1 through the CLI.
	req, _ := http.NewRequest(http.MethodPost, r.d.http+"/api/v1/alerts/"+ids["ge-0/0/0"]+"/ack", strings.NewReader(`{"by":"api-test","comment":"on it"}`))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ack through the API: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	out, err := exec.Command(vedettaBin(t), "ack", ids["ge-0/0/1"], "--config", r.cfg, "--comment", "cli test").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "acknowledged "+ids["ge-0/0/1"]) {
		t.Fatalf("vedetta ack: %v\n%s", err, out)
	}
	// After 4 s only ge-0/0/2 escalates.
	testpeer.WaitFor(t, 8*time.Second, "the escalation SMS", func() bool { return len(r.sms("+390000000002")) >= 1 })
	time.Sleep(1500 * time.Millisecond)
	got := r.sms("+390000000002")
	if len(got) != 1 || !strings.Contains(got[0], "ge-0/0/2") {
		t.Fatalf("escalation SMS to the backup: %q (want exactly one, for ge-0/0/2)", got)
	}
	for _, a := range r.d.alerts() {
		if (a.Labels["ifname"] == "ge-0/0/0" || a.Labels["ifname"] == "ge-0/0/1") && !strings.Contains(getBody(t, r.d.http+"/api/v1/alerts/"+a.ID), `"ack"`) {
			t.Errorf("%s shows no ack in the API", a.ID)
		}
	}
	// The CLI's ack is withdrawn: ge-0/0/1 escalates at once (its 4 s are
	// long past), and the API keeps what the ack said.
	out, err = exec.Command(vedettaBin(t), "unack", ids["ge-0/0/1"], "--config", r.cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "withdrawn") {
		t.Fatalf("vedetta unack: %v\n%s", err, out)
	}
	testpeer.WaitFor(t, 5*time.Second, "ge-0/0/1 escalated after the unack", func() bool {
		got := r.sms("+390000000002")
		return len(got) == 2 && strings.Contains(got[1], "ge-0/0/1")
	})
	if body := getBody(t, r.d.http+"/api/v1/alerts/"+ids["ge-0/0/1"]); strings.Contains(body, `"ack"`) || !strings.Contains(body, "cli test") {
		t.Errorf("after the unack the API shows:\n%s", body)
	}
	if out, err := exec.Command(vedettaBin(t), "unack", ids["ge-0/0/1"], "--config", r.cfg).CombinedOutput(); err == nil {
		t.Errorf("unack of an alarm not acknowledged succeeded: %s", out)
	}
}

func getBody(t *testing.T, url string) string {
	_, b := getQuiet(url)
	return b
}

// A silence: nothing is sent while it lasts; the alarm still firing when
// it ends is notified.
func TestE2ESilence(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(mp.SMTPPort)}, rules: portDownRule,
		routes: "  - receivers: [oncall]\n    channels: [email, sms]\n"})
	r.values(ports(1, "1"))
	r.start()
	out, err := exec.Command(vedettaBin(t), "silence", "add", "--config", r.cfg, "--match", "target=sw1", "--match", "ifname=~ge-0/0/[0-9]+",
		"--for", "4s", "--comment", "patching").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "silence s") {
		t.Fatalf("vedetta silence add: %v\n%s", err, out)
	}
	out, _ = exec.Command(vedettaBin(t), "silence", "list", "--config", r.cfg).CombinedOutput()
	if !strings.Contains(string(out), "patching") || !strings.Contains(string(out), `target="sw1" ifname=~"ge-0/0/[0-9]+"`) {
		t.Errorf("silence list:\n%s", out)
	}
	if out, err := exec.Command(vedettaBin(t), "silence", "add", "--config", r.cfg, "--match", "ifname=~ge-(", "--for", "4s").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "missing closing )") {
		t.Errorf("a bad expression: %v\n%s", err, out)
	}
	silencedAt := time.Now()
	r.values(ports(1, "0"))
	time.Sleep(2500 * time.Millisecond)
	if n := len(mp.Messages(t)) + len(r.sms("+390000000001")); n != 0 {
		t.Fatalf("%d notifications during the silence", n)
	}
	testpeer.WaitFor(t, 8*time.Second, "the alarm after the silence", func() bool { return len(mp.Matching(t, "FIRING", "PortDown")) == 1 })
	if since := time.Since(silencedAt); since < 4*time.Second {
		t.Errorf("notified %v after the silence began, before its end", since)
	}
	testpeer.WaitFor(t, 5*time.Second, "the SMS after the silence", func() bool { return len(r.sms("+390000000001")) == 1 })
}

// A value that keeps flipping gives a few notices, one FLAPPING, and no
// storm.
func TestE2EFlapping(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(mp.SMTPPort)}, rules: portDownRule,
		routes: "  - receivers: [oncall]\n    channels: [email]\n"})
	r.values(ports(1, "1"))
	r.start()
	for i := 0; i < 24; i++ {
		r.values(ports(1, fmt.Sprint(i%2)))
		time.Sleep(1100 * time.Millisecond)
	}
	testpeer.WaitFor(t, 5*time.Second, "the FLAPPING notice", func() bool { return len(mp.Matching(t, "FLAPPING", "PortDown")) == 1 })
	total := len(mp.Messages(t))
	t.Logf("%d e-mails for 24 state changes", total)
	if total > 10 {
		t.Fatalf("%d e-mails for one flapping port: a storm", total)
	}
	r.values(ports(1, "1"))
	testpeer.WaitFor(t, 40*time.Second, "the STOPPED FLAPPING notice", func() bool { return len(mp.Matching(t, "STOPPED FLAPPING")) == 1 })
}

// SMS failover through the daemon: Twilio answering 500 → the modem sends
// it; Twilio accepting but the status turning undelivered → the modem
// sends it too. E-mail goes out in parallel.
func TestE2ESMSFailoverToModem(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		setup func(*testpeer.Twilio)
	}{
		{"twilio 500", func(tw *testpeer.Twilio) { tw.FailCreate(500, 20500) }},
		{"twilio undelivered", func(tw *testpeer.Twilio) { tw.FinalStatus("undelivered") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mp := testpeer.StartMailpit(t)
			mdm := testpeer.StartModem(t)
			r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(mp.SMTPPort)}, rules: portDownRule,
				routes:   "  - match: {severity: critical}\n    receivers: [oncall]\n    channels: [sms, email]\n",
				smsExtra: fmt.Sprintf("      - name: gsm\n        modem: {device: %s, command_timeout: 2s}\n", mdm.Device())})
			c.setup(r.twilio)
			r.values(ports(1, "1"))
			r.start()
			r.values(ports(1, "0"))
			testpeer.WaitFor(t, 15*time.Second, "the SMS through the modem", func() bool { return len(mdm.Sent()) == 1 })
			if s := mdm.Sent()[0]; s.Number != "+390000000001" || !strings.Contains(s.Text, "PortDown") {
				t.Errorf("modem sent %+v", s)
			}
			testpeer.WaitFor(t, 5*time.Second, "the e-mail", func() bool { return len(mp.Matching(t, "FIRING", "PortDown")) == 1 })
			// The ledger tells why: the alarm's deliveries name the modem.
			id := r.d.alerts()[0].ID
			for _, a := range r.d.alerts() {
				if a.Rule == "PortDown" {
					id = a.ID
				}
			}
			testpeer.WaitFor(t, 3*time.Second, "the ledger naming the modem", func() bool {
				return strings.Contains(getBody(t, r.d.http+"/api/v1/alerts/"+id), `"provider": "gsm"`)
			})
		})
	}
}

// Health probes find a dead provider before an incident needs it; the
// heartbeat pings its watcher; test-notify reports every provider.
func TestE2EProbesHeartbeatAndTestNotify(t *testing.T) {
	t.Parallel()
	mp := testpeer.StartMailpit(t)
	beats := make(chan struct{}, 100)
	hb := httptestServer(t, func(w http.ResponseWriter, r *http.Request) { beats <- struct{}{} })
	dead := closedPort(t)
	// Probe every second, heartbeat every 500 ms.
	r := newDeliveryRig(t, deliveryConfig{relays: []string{relay(mp.SMTPPort), relay(dead)}, rules: portDownRule,
		notifyExtra: fmt.Sprintf("  probe_interval: 1s\n  heartbeat: {url: %q, interval: 500ms}\n", hb)})
	r.start()
	testpeer.WaitFor(t, 10*time.Second, "NotificationProviderDown for the dead relay", func() bool {
		for _, a := range r.d.alerts() {
			if a.Rule == "NotificationProviderDown" && a.Labels["provider"] == fmt.Sprintf("127.0.0.1:%d", dead) && a.State == "firing" {
				return true
			}
		}
		return false
	})
	for _, a := range r.d.alerts() {
		if a.Rule == "NotificationProviderDown" && a.Labels["provider"] != fmt.Sprintf("127.0.0.1:%d", dead) {
			t.Errorf("a healthy provider is reported down: %+v", a.Labels)
		}
	}
	testpeer.WaitFor(t, 5*time.Second, "three heartbeats", func() bool { return len(beats) >= 3 })

	out, err := exec.Command(vedettaBin(t), "test-notify", "--config", r.cfg, "--receiver", "oncall").CombinedOutput()
	if err == nil {
		t.Fatalf("test-notify succeeded although a relay is dead:\n%s", out)
	}
	for _, want := range []string{
		fmt.Sprintf("email    127.0.0.1:%d  oncall@e2e.example  ok", mp.SMTPPort),
		fmt.Sprintf("email    127.0.0.1:%d  oncall@e2e.example  FAILED", dead),
		"sms      twilio-main",
		"1 test(s) failed",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("test-notify output lacks %q:\n%s", want, out)
		}
	}
	testSMS := 0
	for _, b := range r.sms("+390000000001") {
		if strings.Contains(b, "TestNotification") {
			testSMS++
		}
	}
	if len(mp.Matching(t, "TEST", "TestNotification")) != 1 || testSMS != 1 {
		t.Errorf("test messages: %d e-mails, %d SMS", len(mp.Matching(t, "TEST")), len(r.sms("+390000000001")))
	}
}

func httptestServer(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/dispatch"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

const dispatchGrace = dispatch.DigestGrace

// The first start of issue 15: four devices of a machine room with
// standing problems (a UPS on battery, a Catalyst 2960-X with its uplink
// down and its unused ports down, a room sensor, an ATS that lost a
// source, all real recordings served by snmpsimd) and the
// shipped rules. It once sent 166 e-mails in a minute. With the start
// digest (notify.start_digest, its default) each receiver hears once per
// channel in the first minute, and that one message names every problem
// standing at the time.
func TestE2EFirstStartOneSummaryPerReceiver(t *testing.T) {
	t.Parallel()
	// The UPS runs on battery: its recording's upsBasicOutputStatus
	// onLine(2) becomes onBattery(3) in the served copy.
	lab := []struct{ name, rec, class string }{
		{"ups-a", "apc_smt750x-nmc2", "ups"},
		{"core-sw", "ios_2960x", "switch"},
		{"env-r101", "apc-netbotz_netbotz750", "environment"},
		{"ats-1", "apc_ats", "ats"},
	}
	var recs []string
	for _, l := range lab {
		recs = append(recs, l.rec)
	}
	// Standing problems, each a line of the served copy: the UPS on
	// battery (upsBasicOutputStatus onLine(2) → onBattery(3)), the ATS's
	// source B failed (atsStatusSourceBStatus ok(2) → fail(1)), the
	// switch's uplink Po1 "*** to acme-fr-s-001 ***" without link
	// (ifOperStatus up(1) → down(2)); the switch's 83 access ports down as
	// recorded are not problems (SwitchPortDown: ports that matter).
	addr := startLabSim(t, map[string][][2]string{
		"apc_smt750x-nmc2": {{"1.3.6.1.4.1.318.1.1.1.4.1.1.0|2|2", "1.3.6.1.4.1.318.1.1.1.4.1.1.0|2|3"}},
		"apc_ats":          {{"1.3.6.1.4.1.318.1.1.8.5.1.13.0|2|2", "1.3.6.1.4.1.318.1.1.8.5.1.13.0|2|1"}},
		"ios_2960x":        {{"1.3.6.1.2.1.2.2.1.8.5001|2|1", "1.3.6.1.2.1.2.2.1.8.5001|2|2"}},
	}, recs...)
	mp := testpeer.StartMailpit(t)
	tw := testpeer.StartTwilio(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "twilio.token"), tw.AuthToken+"\n")
	httpPort := testpeer.FreePort(t)
	var targets strings.Builder
	for _, l := range lab {
		fmt.Fprintf(&targets, `  - name: %s
    kind: snmp
    class: %s
    interval: 10s
    labels: {room: r101}
    snmp: {address: "%s", community: %s, timeout: 3s}
`, l.name, l.class, addr, l.rec)
	}
	// Receivers and routes as the shipped example has them, on the
	// test's peers: without the digest, on-call would hear of the UPS at
	// once and of the switch a minute later.
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
%srule_files: [%q]
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: 127.0.0.1, port: %d, tls: none}
  sms:
    providers:
      - name: twilio-main
        twilio: {account_sid: %s, auth_token_file: twilio.token, from: "+15550001111", api_url: "%s", status_poll: 50ms, status_timeout: 2s}
receivers:
  - {name: oncall, email: [oncall@e2e.example], sms: ["+390000000001"]}
  - {name: facilities, email: [facilities@e2e.example, noc@e2e.example]}
  - {name: ops, email: [ops@e2e.example]}
routes:
  # Power events go to on-call at once, alone (no grouping)...
  - match: {class: ups}
    receivers: [oncall]
    channels: [sms, email]
  # ...the other critical ones grouped by device.
  - match: {severity: critical}
    receivers: [oncall]
    channels: [sms, email]
    group_by: [site, target]
    group_wait: 5s
    repeat: 30m
  - match: {class: environment}
    receivers: [facilities]
  - receivers: [ops]
`, filepath.Join(dir, "state"), httpPort, targets.String(), filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "*.yaml"),
		mp.SMTPPort, tw.AccountSID, tw.URL())
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, cfg)

	vedettaBin(t) // built before the clock starts
	start := time.Now()
	// The harness turns the digest off for the other tests; an empty
	// value leaves the config's, here its default.
	d := startDaemon(t, path, httpPort, "VEDETTA_START_DIGEST=")
	// The digest goes out 45s after the start, or once the problems
	// pending then (SwitchPortDown's for: 1m) have fired: wait for the
	// message of each receiver a firing alarm routes to.
	routed := func(a apiAlert) []string {
		switch {
		case a.Labels["class"] == "ups" || a.Severity == "critical":
			return []string{"oncall@e2e.example"}
		case a.Labels["class"] == "environment":
			return []string{"facilities@e2e.example", "noc@e2e.example"}
		}
		return []string{"ops@e2e.example"}
	}
	var firing map[string]apiAlert
	testpeer.WaitFor(t, 2*time.Minute, "the start digest", func() bool {
		if time.Since(start) < 45*time.Second {
			return false
		}
		// One look at the alarms: the firing ones, and the problems
		// standing at the start still pending (their rule's for:), which
		// the digest waits for, and so does the test.
		_, body := d.get("/api/v1/alerts")
		var all []struct {
			apiAlert
			ActiveAt time.Time `json:"active_at"`
		}
		if err := json.Unmarshal([]byte(body), &all); err != nil {
			t.Fatalf("/api/v1/alerts: %v", err)
		}
		firing = map[string]apiAlert{}
		for _, a := range all {
			switch {
			case a.State == "firing":
				firing[a.ID] = a.apiAlert
			case a.State == "pending" && a.ActiveAt.Before(start.Add(45*time.Second)) && time.Since(start) < 45*time.Second+dispatchGrace:
				return false
			}
		}
		got := map[string]bool{}
		for _, m := range mp.Messages(t) {
			for _, to := range m.To {
				got[to.Address] = true
			}
		}
		for _, a := range firing {
			for _, to := range routed(a) {
				if !got[to] {
					return false
				}
			}
		}
		return len(firing) > 0
	})
	sent := time.Since(start)
	time.Sleep(10 * time.Second) // anything sent alone after it would be a second message
	mails := mp.Messages(t)
	sms := tw.Messages()
	t.Logf("the digest went out %.0fs after the start", sent.Seconds())
	if sent > 45*time.Second+dispatchGrace {
		t.Errorf("the digest went out %v after the start: later than its window and grace", sent.Round(time.Second))
	}
	rules := map[string]int{}
	for _, a := range firing {
		rules[a.Rule]++
	}
	t.Logf("%d alarms firing: %v", len(firing), rules)
	// The lab's problems, each standing from the first poll: none of them
	// may be missing from the alarms the message must then carry.
	for _, r := range []string{"UPSOnBattery", "ATSRedundancyLost", "SwitchPortDown"} {
		if rules[r] != 1 {
			t.Errorf("%d %s firing, want 1 (the lab's standing problem)", rules[r], r)
		}
	}
	perTo := map[string][]testpeer.Message{}
	for _, m := range mails {
		for _, to := range m.To {
			perTo[to.Address] = append(perTo[to.Address], m)
		}
	}
	for to, ms := range perTo {
		var subjects []string
		for _, m := range ms {
			subjects = append(subjects, m.Subject)
		}
		t.Logf("%s: %d e-mail(s): %s", to, len(ms), strings.Join(subjects, " | "))
		if len(ms) > 1 {
			t.Errorf("%s got %d e-mails at the start, want 1", to, len(ms))
		}
	}
	perNumber := map[string]int{}
	for _, m := range sms {
		if !m.Reply {
			perNumber[m.To]++
			t.Logf("SMS to %s: %s", m.To, m.Body)
		}
	}
	for to, n := range perNumber {
		if n > 1 {
			t.Errorf("%s got %d SMS at the start, want 1", to, n)
		}
	}

	// Every standing problem is in a message: in the e-mail of each
	// receiver its route names (the critical ones in oncall's SMS too).
	text := map[string]string{}
	for to, ms := range perTo {
		text[to] = ms[0].Subject + "\n" + mp.Text(t, ms[0].ID)
	}
	var missing []string
	for _, a := range firing {
		to := routed(a)
		for _, r := range to {
			if !strings.Contains(text[r], "["+a.ID+"]") {
				missing = append(missing, fmt.Sprintf("%s (%s on %s) not in the e-mail to %s", a.ID, a.Rule, a.Labels["target"], r))
			}
		}
		if slices.Contains(to, "oncall@e2e.example") && perNumber["+390000000001"] == 0 {
			missing = append(missing, fmt.Sprintf("%s (%s) is critical and oncall got no SMS", a.ID, a.Rule))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
	if t.Failed() {
		t.Logf("daemon output:\n%s", d.proc.Output())
	}
}

// startLabSim serves recordings of ../shared/testdata/snmprec with one
// snmpsimd, each under its name as community, from copies in a temporary
// folder (snmpsimd writes its index next to the data it reads).
func startLabSim(t *testing.T, change map[string][][2]string, names ...string) string {
	t.Helper()
	bin := testpeer.Need(t, "snmpsimd")
	src := testpeer.SharedTestdata(t, "snmprec")
	root, err := os.MkdirTemp("", "vedetta-labsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	data, cache := filepath.Join(root, "data"), filepath.Join(root, "cache")
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// snmpsimd drops to nobody when run as root.
	_ = os.Chmod(root, 0o755)
	_ = os.Chmod(cache, 0o777)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n+".snmprec"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range change[n] {
			// A whole line, so that a prefix of another OID never matches.
			from, to := "\n"+c[0]+"\n", "\n"+c[1]+"\n"
			if strings.Count(string(b), from) != 1 {
				t.Fatalf("%s: the line %q is not there once", n, c[0])
			}
			b = []byte(strings.Replace(string(b), from, to, 1))
		}
		if err := os.WriteFile(filepath.Join(data, n+".snmprec"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := testpeer.Addr(testpeer.FreeUDPPort(t))
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)
	get := testpeer.Need(t, "snmpget")
	for _, n := range names {
		testpeer.WaitFor(t, 30*time.Second, "snmpsimd serving "+n, func() bool {
			return runQuiet(get, "-v2c", "-c", n, "-t", "0.5", "-r", "0", "-On", addr, ".1.3.6.1.2.1.1.2.0") == nil
		})
	}
	return addr
}

// --start-digest (VEDETTA_START_DIGEST) overrides notify.start_digest;
// empty leaves the config's.
func TestStartDigestFlag(t *testing.T) {
	ten := 10 * time.Second
	for _, tc := range []struct {
		config *time.Duration
		flag   string
		want   time.Duration
		err    bool
	}{
		{nil, "", 45 * time.Second, false},
		{&ten, "", ten, false},
		{&ten, "0", 0, false},
		{nil, "30s", 30 * time.Second, false},
		{nil, "2m", 0, true},
		{nil, "-1s", 0, true},
		{nil, "soon", 0, true},
	} {
		cfg := &config.Config{Notify: config.Notify{StartDigest: tc.config}}
		got, err := startDigestWindow(cfg, tc.flag)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("config %v, flag %q: %v, %v; want %v (error: %v)", tc.config, tc.flag, got, err, tc.want, tc.err)
		}
	}
}

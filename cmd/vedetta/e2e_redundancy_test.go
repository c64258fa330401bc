package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// Redundancy groups on the real daemon: real UPSes (NUT upsd with
// dummy-ups drivers serving real dumps), real PDUs (snmpsimd serving a
// real APC rPDU recording), real e-mail (Mailpit).

// tcpProxy forwards a loopback port to a real peer until cut: a device
// that stops answering (its network gone) while the peer itself runs on.
type tcpProxy struct {
	Addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t testing.TB, to string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", to, 2*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut closes the port and every connection through it.
func (p *tcpProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

const redundancyNotify = `notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - %s
receivers:
  - name: facilities
    email: [facilities@e2e.example]
routes:
  - receivers: [facilities]
`

// TestE2ERedundancyUPSGroup: three UPS modules in parallel, need 2. One
// on battery is one warning naming it; a second is one critical
// "capacity lost"; back on line resolves both; a module that stops
// answering is reported unknown, never healthy.
func TestE2ERedundancyUPSGroup(t *testing.T) {
	t.Parallel()
	nut := testpeer.SharedTestdata(t, "nut")
	upsd := testpeer.StartUPSD(t, map[string]string{
		"ups-a": filepath.Join(nut, "APC__Smart-UPS_1000__snmp-ups__2.7.4__02.dev"),
		"ups-b": filepath.Join(nut, "Cyber_Power_Systems__PR2200LCDRT2U__snmp-ups__2.7.2__01.dev"),
		"ups-c": filepath.Join(nut, "Eaton__9PX__snmp-ups__2.7.4__01.dev"),
	})
	cLink := startProxy(t, upsd.Addr) // ups-c's network
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	var targets strings.Builder
	for _, u := range []struct{ name, addr string }{{"ups-a", upsd.Addr}, {"ups-b", upsd.Addr}, {"ups-c", cLink.Addr}} {
		fmt.Fprintf(&targets, "  - {name: %s, kind: nut, class: ups, interval: 1s, labels: {group: ups-main}, nut: {address: %q, ups: %s}}\n",
			u.name, u.addr, u.name)
	}
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
%sredundancy:
  - name: ups-main
    members: {class: ups, labels: {group: ups-main}}
    healthy: ups_on_battery == 0 && ups_alarms_active == 0
    need: 2
`+redundancyNotify, filepath.Join(dir, "state"), httpPort, targets.String(), relay(mp.SMTPPort))
	cfgPath := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfgPath, cfg)
	d := startDaemon(t, cfgPath, httpPort)
	testpeer.WaitFor(t, 20*time.Second, "the three UPSes on line in /metrics", func() bool {
		_, m := d.get("/metrics")
		for _, u := range []string{"ups-a", "ups-b", "ups-c"} {
			if !strings.Contains(m, `ups_on_battery{class="ups",group="ups-main",target="`+u+`",ups="`+u+`"} 0`) {
				return false
			}
		}
		return true
	})
	firing := func(rule string) []testpeer.Message { return mp.Matching(t, "FIRING", rule) }
	resolved := func(rule string) []testpeer.Message { return mp.Matching(t, "RESOLVED", rule) }

	upsd.Set(t, "ups-b", "ups.status=OB DISCHRG")
	testpeer.WaitFor(t, 15*time.Second, "the redundancy-lost e-mail", func() bool { return len(firing("RedundancyLost")) > 0 })
	warn := firing("RedundancyLost")[0]
	if want := "warning: RedundancyLost on aggregate: ups-main: redundancy lost (2 of 3 healthy; ups-b (ups_on_battery = 1) unhealthy)"; !strings.Contains(warn.Subject, want) {
		t.Errorf("subject %q\n  want %q", warn.Subject, want)
	}
	time.Sleep(3 * time.Second) // three more evaluations: still one e-mail, and capacity is fine
	if n, c := len(firing("RedundancyLost")), len(firing("CapacityLost")); n != 1 || c != 0 {
		t.Fatalf("%d redundancy-lost and %d capacity-lost e-mails with one module on battery, want 1 and 0", n, c)
	}

	upsd.Set(t, "ups-a", "ups.status=OB DISCHRG")
	testpeer.WaitFor(t, 15*time.Second, "the capacity-lost e-mail", func() bool { return len(firing("CapacityLost")) > 0 })
	crit := firing("CapacityLost")[0]
	if want := "critical: CapacityLost on aggregate: ups-main: capacity lost (1 of 3 healthy, 2 needed; ups-a (ups_on_battery = 1), ups-b (ups_on_battery = 1) unhealthy)"; !strings.Contains(crit.Subject, want) {
		t.Errorf("subject %q\n  want %q", crit.Subject, want)
	}

	upsd.Set(t, "ups-a", "ups.status=OL")
	upsd.Set(t, "ups-b", "ups.status=OL")
	testpeer.WaitFor(t, 15*time.Second, "both resolved e-mails", func() bool {
		return len(resolved("RedundancyLost")) > 0 && len(resolved("CapacityLost")) > 0
	})
	if n, c := len(firing("RedundancyLost")), len(firing("CapacityLost")); n != 1 || c != 1 {
		t.Fatalf("%d redundancy-lost and %d capacity-lost e-mails, want one each", n, c)
	}

	// ups-c's network goes: after three intervals it is unknown.
	cLink.cut()
	testpeer.WaitFor(t, 20*time.Second, "redundancy lost with ups-c unknown", func() bool { return len(firing("RedundancyLost")) > 1 })
	again := firing("RedundancyLost")[0] // newest first
	if want := "ups-main: redundancy lost (2 of 3 healthy; ups-c (no data for "; !strings.Contains(again.Subject, want) || !strings.Contains(again.Subject, ") unknown)") {
		t.Errorf("subject %q\n  want %q...) unknown)", again.Subject, want)
	}
	if c := len(firing("CapacityLost")); c != 1 {
		t.Errorf("%d capacity-lost e-mails, want still 1 (two modules are healthy)", c)
	}
}

// startSnmpsimCopies serves copies of a real recording under several
// community names (one per device), from a folder the test may rewrite:
// snmpsimd re-reads a file whose mtime changed. Returns the address and
// the data folder.
func startSnmpsimCopies(t testing.TB, recording string, names ...string) (addr, data string) {
	t.Helper()
	bin := testpeer.Need(t, "snmpsimd", "/usr/bin/snmpsimd")
	src, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(t, "snmprec"), recording+".snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	// snmpsimd drops to nobody when run as root: a folder it can read.
	root, err := os.MkdirTemp("", "vedetta-e2e-snmpsim-")
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
	_ = os.Chmod(root, 0o755)
	_ = os.Chmod(cache, 0o777)
	for _, n := range names {
		writeFile(t, filepath.Join(data, n+".snmprec"), string(src))
	}
	addr = testpeer.Addr(testpeer.FreeUDPPort(t))
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)
	return addr, data
}

// TestE2ERedundancyRackFeeds: the A and B PDUs of rack R1 (snmpsimd
// serving a real APC AP8959 recording twice); PDU A's feed is lost (its
// load goes to 0 W, written into its recording at run time): one alarm,
// naming the rack and the PDU. Rack R2's PDUs are untouched: no alarm.
func TestE2ERedundancyRackFeeds(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "snmpget")
	pdus := []string{"pdu-r1-a", "pdu-r1-b", "pdu-r2-a", "pdu-r2-b"}
	addr, data := startSnmpsimCopies(t, "apc_ap8959eu3", pdus...)
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	var targets strings.Builder
	for _, p := range pdus {
		fmt.Fprintf(&targets, "  - {name: %s, kind: snmp, class: pdu, interval: 1s, labels: {rack: %s}, snmp: {address: %q, community: %s, timeout: 1s}, profiles: [apc-rpdu]}\n",
			p, strings.ToUpper(strings.Split(p, "-")[1]), addr, p)
	}
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
%sredundancy:
  - name: rack-feeds
    members: {class: pdu}
    by: [rack]
    healthy: pdu_power_watts > 0
    need: 1
`+redundancyNotify, filepath.Join(dir, "state"), httpPort, targets.String(), relay(mp.SMTPPort))
	cfgPath := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfgPath, cfg)
	d := startDaemon(t, cfgPath, httpPort)
	testpeer.WaitFor(t, 30*time.Second, "the four PDUs' load in /metrics", func() bool {
		_, m := d.get("/metrics")
		return strings.Count(m, "pdu_power_watts{") >= 4
	})

	// Feed A of rack R1 lost: the PDU is still managed (its card on the
	// other feed) and carries nothing.
	const load = "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1|2|"
	path := filepath.Join(data, "pdu-r1-a.snmprec")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), load+"27\n") {
		t.Fatalf("the recording has no rPDU2DeviceStatusPower of 27 (x10 W): %s", path)
	}
	testpeer.RewriteSnmprec(t, path, []byte(strings.Replace(string(b), load+"27\n", load+"0\n", 1)))
	testpeer.WaitFor(t, 20*time.Second, "the rack's redundancy-lost e-mail", func() bool {
		return len(mp.Matching(t, "FIRING", "RedundancyLost")) > 0
	})
	time.Sleep(3 * time.Second)
	msgs := mp.Matching(t, "FIRING")
	if len(msgs) != 1 {
		var subs []string
		for _, m := range msgs {
			subs = append(subs, m.Subject)
		}
		t.Fatalf("%d firing e-mails, want 1:\n%s", len(msgs), strings.Join(subs, "\n"))
	}
	if want := "rack-feeds, rack R1: redundancy lost (1 of 2 healthy; pdu-r1-a (pdu_power_watts = 0) unhealthy)"; !strings.Contains(msgs[0].Subject, want) {
		t.Errorf("subject %q\n  want %q", msgs[0].Subject, want)
	}
	if body := mp.Text(t, msgs[0].ID); !strings.Contains(body, "rack=R1") && !strings.Contains(body, "R1") {
		t.Errorf("body does not name the rack:\n%s", body)
	}
}

// vedetta check refuses a bad redundancy group, naming file, line and
// field.
func TestCheckRefusesBadRedundancy(t *testing.T) {
	base := strings.Replace(checkBase, "rules:\n", `redundancy:
  - name: cmds
    members: {class: exec}
    healthy: check_status == 0
    need: 1
rules:
`, 1)
	cases := []struct{ name, from, to, want string }{
		{"unknown field", "    need: 1\n", "    need: 1\n    neeed: 1\n", `:14: redundancy[0].neeed: unknown field "neeed"`},
		{"need above members", "need: 1", "need: 2", `:13: redundancy[0].need: need 2, but the group has 1 members (cmd)`},
		{"bad healthy", "healthy: check_status == 0", "healthy: check_status === 0", `:12: redundancy[0].healthy: `},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.yaml")
			writeFile(t, p, strings.Replace(base, c.from, c.to, 1))
			code, _, errs := runCLI(t, "check", "--config", p)
			if code != 1 || !strings.Contains(errs, p+c.want) {
				t.Fatalf("exit %d, output\n  %s\nwant\n  %s%s", code, errs, p, c.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "ok.yaml")
	writeFile(t, p, base)
	if code, out, errs := runCLI(t, "check", "--config", p); code != 0 {
		t.Fatalf("base: exit %d %s %s", code, out, errs)
	}
}

// startCracRig is the cluster rig with units CRAC units (exec targets,
// crac_running from a file each, polled every second) in one redundancy
// group "cooling" with need 5; setUnit changes a unit.
func startCracRig(t *testing.T, units int, quorumTimeout time.Duration) (r *clusterRig, setUnit func(i, running int)) {
	t.Helper()
	r = &clusterRig{t: t, net: testpeer.StartNet(t, 3), dir: t.TempDir()}
	r.mp = testpeer.StartMailpitOn(t, r.net.HostAddr())
	unitFile := func(i int) string { return filepath.Join(r.dir, fmt.Sprintf("crac%02d.prom", i)) }
	setUnit = func(i, running int) { writeFile(t, unitFile(i), fmt.Sprintf("crac_running %d\n", running)) }
	var peers []string
	for i := 0; i < 3; i++ {
		peers = append(peers, fmt.Sprintf("    - {node: n%d, url: \"http://%s:2380\", zone: z%d}", i, r.net.Addr(i), i))
	}
	var targets strings.Builder
	for i := 0; i < units; i++ {
		setUnit(i, 1)
		fmt.Fprintf(&targets, "  - {name: crac%02d, kind: exec, class: crac, interval: 1s, exec: {command: [cat, %s], format: prometheus}}\n", i, unitFile(i))
	}
	for i := 0; i < 3; i++ {
		cfg := fmt.Sprintf(`site: e2e
state_dir: %[1]s/n%[2]d
http:
  listen: %[3]s:%[4]d
cluster:
  node: n%[2]d
  zone: z%[2]d
  listen_peer: %[3]s:2380
  lease_ttl: 2s
  quorum_timeout: %[9]s
  peers:
%[5]s
targets:
%[6]s
redundancy:
  - name: cooling
    members: {class: crac}
    healthy: crac_running == 1
    need: 5
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: %[7]s, port: %[8]d, tls: none}
receivers:
  - name: noc
    email: [noc@e2e.example]
routes:
  - receivers: [noc]
`, r.dir, i, r.net.Addr(i), clusterHTTPPort, strings.Join(peers, "\n"), targets.String(), r.net.HostAddr(), r.mp.SMTPPort, quorumTimeout)
		r.cfgs[i] = filepath.Join(r.dir, fmt.Sprintf("n%d.yaml", i))
		writeFile(t, r.cfgs[i], cfg)
	}
	done := make(chan int, 3)
	for i := 0; i < 3; i++ {
		go func() { r.start(i); done <- i }()
	}
	for i := 0; i < 3; i++ {
		<-done
	}
	if t.Failed() {
		t.FailNow()
	}
	return r, setUnit
}

// TestE2EClusterRedundancyOnce: six CRAC units (exec targets reading a
// file each), shared out over the three members of the cluster rig; a
// redundancy group over all six, need 5. A unit polled by one member
// fails, then one polled by another: one RedundancyLost and one
// CapacityLost e-mail for the whole cluster, whose counts prove the
// dispatcher saw the values of every member's targets. The dispatcher is
// then killed: its successor adopts both alarms (no RESOLVED, no second
// FIRING), and recovery resolves each once.
func TestE2EClusterRedundancyOnce(t *testing.T) {
	needClusterRig(t)
	const units = 6
	r, setUnit := startCracRig(t, units, 30*time.Second)
	lead := r.dispatcher(20*time.Second, 0, 1, 2)
	owner := map[string]int{}
	testpeer.WaitFor(t, 20*time.Second, "every unit owned by one member", func() bool {
		owner = map[string]int{}
		for i := 0; i < 3; i++ {
			v, ok := r.view(i)
			if !ok {
				return false
			}
			for _, o := range v.Owned {
				owner[o] = i
			}
		}
		return len(owner) == units
	})
	// Two failing units on two different members, neither the dispatcher
	// when the sharding allows: the dispatcher must hear of them.
	x, y := -1, -1
	name := func(i int) string { return fmt.Sprintf("crac%02d", i) }
	for i := 0; i < units; i++ {
		if owner[name(i)] != lead && x < 0 {
			x = i
		}
	}
	for _, notLead := range []bool{true, false} {
		for i := 0; i < units && y < 0; i++ {
			if x >= 0 && owner[name(i)] != owner[name(x)] && (owner[name(i)] != lead) == notLead {
				y = i
			}
		}
	}
	if x < 0 || y < 0 {
		t.Fatalf("the six units are not spread over two members besides the dispatcher: %v", owner)
	}
	t.Logf("dispatcher n%d; failing crac%02d (n%d), then crac%02d (n%d)", lead, x, owner[fmt.Sprintf("crac%02d", x)], y, owner[fmt.Sprintf("crac%02d", y)])

	// distinct counts mails by Message-ID (a mail in flight when its
	// dispatcher dies may be sent again; that is counted elsewhere).
	distinct := func(parts ...string) (n int, subjects []string) {
		seen := map[string]bool{}
		for _, m := range r.mp.Matching(t, parts...) {
			if !seen[m.MessageID] {
				seen[m.MessageID] = true
				subjects = append(subjects, m.Subject)
			}
		}
		return len(seen), subjects
	}
	time.Sleep(6 * time.Second) // every member has published; the start's grace is over
	if n, s := distinct("RedundancyLost"); n != 0 {
		t.Fatalf("redundancy e-mails with every unit running: %q", s)
	}

	setUnit(x, 0)
	testpeer.WaitFor(t, 15*time.Second, "the redundancy-lost e-mail", func() bool { n, _ := distinct("FIRING", "RedundancyLost"); return n > 0 })
	_, s := distinct("FIRING", "RedundancyLost")
	if want := fmt.Sprintf("cooling: redundancy lost (5 of 6 healthy; crac%02d (crac_running = 0) unhealthy)", x); !strings.Contains(s[0], want) {
		t.Errorf("subject %q\n  want %q", s[0], want)
	}
	setUnit(y, 0)
	testpeer.WaitFor(t, 15*time.Second, "the capacity-lost e-mail", func() bool { n, _ := distinct("FIRING", "CapacityLost"); return n > 0 })
	_, s = distinct("FIRING", "CapacityLost")
	if want := "cooling: capacity lost (4 of 6 healthy, 5 needed; "; !strings.Contains(s[0], want) {
		t.Errorf("subject %q\n  want %q", s[0], want)
	}

	time.Sleep(2 * time.Second) // room for a second copy from another member
	for _, rule := range []string{"RedundancyLost", "CapacityLost"} {
		if n := len(r.mp.Matching(t, rule)); n != 1 {
			t.Errorf("%s: %d e-mails in Mailpit from the three members, want exactly 1", rule, n)
		}
	}

	// The office moves: the aggregation alarms go on from where they were.
	r.nodes[lead].kill9()
	next := r.dispatcher(15*time.Second, without([]int{0, 1, 2}, lead)...)
	t.Logf("n%d killed; n%d dispatches", lead, next)
	time.Sleep(8 * time.Second) // its units moved, republished by their new owners
	for _, rule := range []string{"RedundancyLost", "CapacityLost"} {
		if n, s := distinct(rule); n != 1 {
			t.Errorf("%s: %d e-mails after the office moved, want the one FIRING:\n%s", rule, n, strings.Join(s, "\n"))
		}
	}

	setUnit(x, 1)
	setUnit(y, 1)
	testpeer.WaitFor(t, 20*time.Second, "both resolved e-mails", func() bool {
		a, _ := distinct("RESOLVED", "RedundancyLost")
		b, _ := distinct("RESOLVED", "CapacityLost")
		return a > 0 && b > 0
	})
	time.Sleep(2 * time.Second)
	for _, rule := range []string{"RedundancyLost", "CapacityLost"} {
		f, _ := distinct("FIRING", rule)
		res, _ := distinct("RESOLVED", rule)
		if f != 1 || res != 1 {
			t.Errorf("%s: %d FIRING and %d RESOLVED e-mails in the cluster, want one each", rule, f, res)
		}
	}
}

// TestE2EClusterRedundancyDegraded: two of three members killed, the
// survivor alone (no quorum) polls every unit and aggregates over its own
// series: a unit that fails is one RedundancyLost mail, marked degraded,
// counting all six units; its recovery one RESOLVED.
func TestE2EClusterRedundancyDegraded(t *testing.T) {
	needClusterRig(t)
	const units = 6
	r, setUnit := startCracRig(t, units, 5*time.Second)
	lead := r.dispatcher(20*time.Second, 0, 1, 2)
	survivor := (lead + 1) % 3
	for _, i := range without([]int{0, 1, 2}, survivor) {
		r.nodes[i].kill9()
	}
	testpeer.WaitFor(t, 15*time.Second, "the survivor degraded", func() bool {
		return r.metric(survivor, "vedetta_cluster_degraded") == 1
	})
	time.Sleep(6 * time.Second) // it polls the others' units now; the grace of the takeover is over
	if n := len(r.mp.Matching(t, "RedundancyLost")); n != 0 {
		t.Fatalf("%d redundancy mails with every unit running", n)
	}
	setUnit(2, 0)
	testpeer.WaitFor(t, 15*time.Second, "a degraded redundancy-lost mail", func() bool {
		return len(r.mp.Matching(t, "[degraded: cluster quorum lost]", "FIRING", "RedundancyLost")) > 0
	})
	m := r.mp.Matching(t, "[degraded: cluster quorum lost]", "FIRING", "RedundancyLost")
	if want := "cooling: redundancy lost (5 of 6 healthy; crac02 (crac_running = 0) unhealthy)"; len(m) != 1 || !strings.Contains(m[0].Subject, want) {
		t.Errorf("%d mails, first %q\n  want one with %q", len(m), m[0].Subject, want)
	}
	setUnit(2, 1)
	testpeer.WaitFor(t, 15*time.Second, "its degraded RESOLVED mail", func() bool {
		return len(r.mp.Matching(t, "[degraded: cluster quorum lost]", "RESOLVED", "RedundancyLost")) == 1
	})
}

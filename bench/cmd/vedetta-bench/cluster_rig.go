package main

// The rig of `vedetta-bench cluster`: three members in three network
// namespaces, their configs, and what the runs ask of them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// benchRig is the three members and what they talk to.
type benchRig struct {
	tb     *benchTB
	o      *clusterOptions
	net    *testpeer.Net
	mail   *testpeer.Mailpit
	twilio *testpeer.Twilio
	p      *peers
	dir    string
	cfgs   [3]string
	nodes  [3]*testpeer.Proc
	racks  []string // rack files
	ups    []*upsAgent
}

const (
	benchHTTPPort = 9095
	benchTrapPort = 1162
	// benchRacks are exec targets for the failover runs: enough that each
	// run finds a rack another member polls and that has rested.
	benchRacks = 12
	// rackRest: a rack that fired and resolved within the last ~21 polls
	// would be flapping (it then says FLAPPING, not FIRING).
	rackRest = 25 * time.Second
)

func startBenchRig(ctx context.Context, tb *benchTB, o *clusterOptions) *benchRig {
	r := &benchRig{tb: tb, o: o, dir: filepath.Join(o.work, "rig")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	r.net = testpeer.StartNet(tb, 3)
	r.mail = testpeer.StartMailpitOn(tb, r.net.HostAddr())
	r.twilio = testpeer.StartTwilio(tb)
	r.p = &peers{mail: r.mail, twilio: r.twilio}
	// The Twilio server listens on loopback; the members reach it through
	// a relay on the bridge address.
	twURL := relayTCP(tb, r.net.HostAddr(), strings.TrimPrefix(r.twilio.URL(), "http://"))

	// One UPS agent per trap, each on its own address on the bridge (a
	// trap is attributed to the target at its sender's host).
	pdus, err := readSnmprec(filepath.Join(o.snmprec, o.upsRec))
	if err != nil {
		tb.Fatal(err)
	}
	bridge := bridgeOf(tb, r.net.HostAddr())
	base := net.ParseIP(r.net.HostAddr()).To4()
	if o.traps > 200 {
		tb.Fatalf("at most 200 traps (one bridge address each), not %d", o.traps)
	}
	for i := 0; i < o.traps; i++ {
		ip := net.IPv4(base[0], base[1], base[2], byte(40+i))
		if out, err := exec.CommandContext(ctx, "ip", "addr", "add", ip.String()+"/24", "dev", bridge).CombinedOutput(); err != nil {
			tb.Fatalf("ip addr add %s: %v %s", ip, err, out)
		}
		a, err := newUPSAgent(ip, pdus, o.community)
		if err != nil {
			tb.Fatal(err)
		}
		r.ups = append(r.ups, a)
	}
	tb.Cleanup(func() {
		for _, a := range r.ups {
			a.close()
		}
	})
	for i := 0; i < benchRacks; i++ {
		f := filepath.Join(r.dir, fmt.Sprintf("rack%02d.prom", i))
		r.racks = append(r.racks, f)
		r.setRack(i, false)
	}
	for i := 0; i < 3; i++ {
		r.cfgs[i] = filepath.Join(r.dir, fmt.Sprintf("n%d.yaml", i))
		if err := os.WriteFile(r.cfgs[i], []byte(r.config(i, twURL)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	// All three at once: each embedded etcd waits for the others.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := 0; i < 3; i++ {
		wg.Go(func() { errs[i] = try(func() { r.start(i) }) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	if _, err := r.dispatcher(ctx, 30*time.Second, 0, 1, 2); err != nil {
		tb.Fatal(err)
	}
	return r
}

func (r *benchRig) setRack(i int, hot bool) {
	v := 20
	if hot {
		v = 45
	}
	tmp := r.racks[i] + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("rack_temperature_celsius %d\n", v)), 0o644); err == nil {
		_ = os.Rename(tmp, r.racks[i])
	}
}

func (r *benchRig) http(i int) string {
	return fmt.Sprintf("http://%s:%d", r.net.Addr(i), benchHTTPPort)
}

// config is member i's vedetta.yaml: the racks (exec, every second) for
// the failovers, one UPS (SNMP, every minute, so only a trap makes a poll
// soon) per trap, e-mail to Mailpit, SMS to the Twilio server.
func (r *benchRig) config(i int, twilioURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site: bench\nstate_dir: %s/n%d\nlog:\n  level: warn\nhttp:\n  listen: %s:%d\n", r.dir, i, r.net.Addr(i), benchHTTPPort)
	fmt.Fprintf(&b, "cluster:\n  node: n%d\n  zone: z%d\n  listen_peer: %s:2380\n  lease_ttl: %s\n  peers:\n", i, i, r.net.Addr(i), r.o.leaseTTL)
	for j := 0; j < 3; j++ {
		fmt.Fprintf(&b, "    - {node: n%d, url: \"http://%s:2380\", zone: z%d}\n", j, r.net.Addr(j), j)
	}
	fmt.Fprintf(&b, "traps:\n  listen: %s:%d\n  communities: [%s]\n", r.net.Addr(i), benchTrapPort, r.o.community)
	b.WriteString("targets:\n")
	for j, f := range r.racks {
		fmt.Fprintf(&b, "  - {name: rack%02d, kind: exec, interval: 1s, exec: {command: [cat, %s], format: prometheus}}\n", j, f)
	}
	for j, a := range r.ups {
		fmt.Fprintf(&b, "  - {name: ups-%d, kind: snmp, class: ups, interval: 1m, snmp: {address: \"%s\", community: %s, timeout: 1s}}\n",
			j, a.addr(), r.o.community)
	}
	b.WriteString(`rules:
  - name: RackTooHot
    expr: rack_temperature_celsius > 35
    severity: critical
    summary: "{{ .Labels.target }} at {{ .Value }} °C"
  - name: UPSOnBattery
    expr: ups_on_battery == 1
    for: 0s
    severity: critical
    summary: "{{ .Labels.target }} is on battery"
`)
	// start_digest 0: the bench times single alarms from the first
	// seconds on; the digest would hold those of the first 45 s (issue 15).
	fmt.Fprintf(&b, `notify:
  start_digest: 0s
  email:
    from: vedetta@bench.example
    timeout: 5s
    relays:
      - {host: %s, port: %d, tls: none}
  sms:
    min_interval: 100ms
    failover_after: 5s
    providers:
      - name: twilio
        twilio: {account_sid: %s, auth_token: %s, from: "+15550001111", api_url: "%s", status_poll: 1s, status_timeout: 10s, timeout: 5s}
receivers:
  - {name: noc, email: [noc@bench.example]}
`, r.net.HostAddr(), r.mail.SMTPPort, r.twilio.AccountSID, r.twilio.AuthToken, twilioURL)
	for j := range r.ups {
		fmt.Fprintf(&b, "  - {name: r%d, email: [ups-%d@bench.example], sms: [\"%s\"]}\n", j, j, phone(j))
	}
	b.WriteString("routes:\n")
	for j := range r.ups {
		fmt.Fprintf(&b, "  - {match: {target: ups-%d}, receivers: [r%d], channels: [email, sms]}\n", j, j)
	}
	b.WriteString("  - {receivers: [noc]}\n")
	return b.String()
}

// start runs member i in its namespace and waits for its /healthz.
func (r *benchRig) start(i int) {
	if r.nodes[i] == nil { // the first start: the config must pass check
		if out, err := exec.Command(r.o.vedetta, "check", "--config", r.cfgs[i]).CombinedOutput(); err != nil {
			r.tb.Fatalf("vedetta check n%d: %v\n%s", i, err, tail(string(out), 1500))
		}
	}
	p := r.net.Start(i, nil, r.o.vedetta, "run", "--config", r.cfgs[i])
	deadline := time.Now().Add(90 * time.Second)
	for {
		if p.Exited() {
			r.tb.Fatalf("member n%d exited during start-up: %s", i, tail(p.Output(), 1500))
		}
		if code, _ := httpGet(r.http(i) + "/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("member n%d not healthy after 90s: %s", i, tail(p.Output(), 1500))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.nodes[i] = p
}

func (r *benchRig) kill9(i int) {
	_ = syscall.Kill(r.nodes[i].Cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.nodes[i].Done():
	case <-time.After(5 * time.Second):
		r.tb.Fatalf("member n%d did not die on SIGKILL", i)
	}
}

// clusterAPI is the part of /api/v1/cluster the bench reads.
type clusterAPI struct {
	Dispatcher string   `json:"dispatcher"`
	Owned      []string `json:"owned"`
}

func (r *benchRig) view(i int) (clusterAPI, bool) {
	var v clusterAPI
	code, body := httpGet(r.http(i) + "/api/v1/cluster")
	return v, code == 200 && json.Unmarshal([]byte(body), &v) == nil
}

// dispatcher waits until the live members agree on one of them.
func (r *benchRig) dispatcher(ctx context.Context, within time.Duration, live ...int) (int, error) {
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		name := ""
		agreed := true
		for _, i := range live {
			v, ok := r.view(i)
			if !ok || v.Dispatcher == "" || (name != "" && v.Dispatcher != name) {
				agreed = false
				break
			}
			name = v.Dispatcher
		}
		var n int
		if _, err := fmt.Sscanf(name, "n%d", &n); agreed && err == nil && slices.Contains(live, n) {
			return n, nil
		}
	}
	return -1, fmt.Errorf("no dispatcher agreed among members %v within %v", live, within)
}

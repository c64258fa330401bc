package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// A real router's BGP table (the Dell S4048T-ON recording, two established
// eBGP peers), served by snmpsimd from a temporary copy: the test rewrites
// the copy's bgpPeerState of one peer from established(6) to active(3) and
// back (snmpsimd re-reads a changed .snmprec: its index is rebuilt when the
// file's mtime moves to another second: testpeer.RewriteSnmprec). The shipped rule BGPSessionDown
// (configs/rules.d/network.yaml) must e-mail the peer, its AS and the state,
// and resolve when the session is back.
func TestE2EBGPSessionDownAndBack(t *testing.T) {
	t.Parallel()
	const peerState = "1.3.6.1.2.1.15.3.1.2.10.255.0.49|2|"
	addr, rec := startBGPSim(t, "dnos_bgp")
	mp := testpeer.StartMailpit(t)
	dir := t.TempDir()
	httpPort := testpeer.FreePort(t)
	rulesFile := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "network.yaml")
	cfg := fmt.Sprintf(`site: e2e
state_dir: %s
http:
  listen: 127.0.0.1:%d
targets:
  - name: edge-r1
    kind: snmp
    class: router
    interval: 2s
    timeout: 1500ms
    snmp: {address: "%s", community: dnos_bgp, timeout: 1s}
    profiles: [bgp4-mib]   # the router's 189 interfaces are not what this test is about
rule_files: [%q]
notify:
  email:
    from: vedetta@e2e.example
    timeout: 3s
    relays:
      - {host: 127.0.0.1, port: %d, tls: none}
receivers:
  - name: noc
    email: [noc@e2e.example]
routes:
  - receivers: [noc]
`, filepath.Join(dir, "state"), httpPort, addr, rulesFile, mp.SMTPPort)
	path := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, path, cfg)
	d := startDaemon(t, path, httpPort)
	up := `bgp_peer_established{class="router",peer="10.255.0.49",remote_as="7714",target="edge-r1"} 1`
	testpeer.WaitFor(t, 20*time.Second, "the first poll of edge-r1", func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, up)
	})
	if got := d.alertState("BGPSessionDown"); got != "" {
		t.Fatalf("BGPSessionDown is %q with both sessions established", got)
	}

	setRecord(t, rec, peerState+"6", peerState+"3")
	want := "BGP session to 10.255.0.49 (AS 7714) on edge-r1 is down (state active)"
	testpeer.WaitFor(t, 60*time.Second, "the firing e-mail of BGPSessionDown", func() bool {
		return len(mp.Matching(t, "FIRING", "BGPSessionDown")) > 0
	})
	msg := mp.Matching(t, "FIRING", "BGPSessionDown")[0]
	if body := mp.Text(t, msg.ID); !strings.Contains(msg.Subject+body, want) {
		t.Errorf("the e-mail does not say %q:\n%s\n%s", want, msg.Subject, body)
	}
	if n := len(mp.Matching(t, "BGPSessionDown", "99.99.132.50")); n != 0 {
		t.Errorf("%d e-mails about the peer that stayed up", n)
	}
	if got := d.alertState("BGPSessionDown"); got != "firing" {
		t.Errorf("API state = %q, want firing", got)
	}

	setRecord(t, rec, peerState+"3", peerState+"6")
	testpeer.WaitFor(t, 60*time.Second, "the resolved e-mail of BGPSessionDown", func() bool {
		return len(mp.Matching(t, "RESOLVED", "BGPSessionDown")) > 0
	})
	if n := len(mp.Matching(t, "FIRING", "BGPSessionDown")); n != 1 {
		t.Errorf("%d firing e-mails, want 1", n)
	}
}

// startBGPSim serves one recording of ../shared/testdata/snmprec with a
// real snmpsimd from a copy in a temporary folder and returns its address
// and the copy's path (the recording itself is never touched).
func startBGPSim(t *testing.T, name string) (addr, copyPath string) {
	t.Helper()
	bin := testpeer.Need(t, "snmpsimd")
	src := filepath.Join(testpeer.SharedTestdata(t, "snmprec"), name+".snmprec")
	root, err := os.MkdirTemp("", "vedetta-bgpsim-")
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
	// snmpsimd drops to nobody when run as root: it must read the data
	// and write its index.
	_ = os.Chmod(root, 0o755)
	_ = os.Chmod(data, 0o777)
	_ = os.Chmod(cache, 0o777)
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	copyPath = filepath.Join(data, name+".snmprec")
	if err := os.WriteFile(copyPath, in, 0o644); err != nil {
		t.Fatal(err)
	}
	addr = testpeer.Addr(testpeer.FreeUDPPort(t))
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)
	get := testpeer.Need(t, "snmpget")
	testpeer.WaitFor(t, 30*time.Second, "snmpsimd ready", func() bool {
		return runQuiet(get, "-v2c", "-c", name, "-t", "0.3", "-r", "0", "-On", addr, ".1.3.6.1.2.1.15.2.0") == nil
	})
	return addr, copyPath
}

// setRecord replaces one whole line of the served copy (written to a new
// file and renamed over it: snmpsimd never reads half a file) and waits
// until the file's mtime has moved, which is what makes snmpsimd rebuild
// its index.
func setRecord(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	n := 0
	for i, l := range lines {
		if string(bytes.TrimRight(l, "\r")) == from {
			lines[i] = []byte(to)
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s: %d lines %q, want 1", path, n, from)
	}
	testpeer.RewriteSnmprec(t, path, bytes.Join(lines, []byte("\n")))
}

func runQuiet(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	return cmd.Run()
}

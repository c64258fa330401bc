package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// client is a gosnmp v2c client for one agent.
func client(t testing.TB, port int, community string, timeout time.Duration) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: community,
		Version: gosnmp.Version2c, Timeout: timeout, Retries: 0, MaxOids: 60}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

// TestDeadAndSlowAgents: with --dead and --slow, the chosen agents time out
// (net-snmp snmpget -t 0.3 -r 0) or answer only after --slow-delay; the
// others answer at once.
func TestDeadAndSlowAgents(t *testing.T) {
	s := startSim(t, "--device", "ups="+recordingPath(t, "apc_smt750x-nmc2"), "--agents", "10",
		"--dead", "0.2", "--slow", "0.3", "--slow-delay", "700ms", "--seed", "7")
	count := map[behaviour]int{}
	for _, a := range s.agents {
		count[a.mode]++
	}
	if count[dead] != 2 || count[slow] != 3 || count[healthy] != 5 {
		t.Fatalf("modes %v, want 2 dead, 3 slow, 5 ok", count)
	}
	var wg sync.WaitGroup
	for _, a := range s.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			out, err := netsnmp(t, "snmpget", "-v2c", "-c", "public", "-t", map[behaviour]string{
				dead: "0.3", slow: "3", healthy: "0.3"}[a.mode], "-r", "0", a.addr(), ".1.3.6.1.2.1.1.2.0")
			took := time.Since(t0)
			answered := err == nil && strings.Contains(out, "OID: .1.3.6.1.4.1.318.1.3.27")
			switch a.mode {
			case dead:
				if answered || !strings.Contains(out, "Timeout") {
					t.Errorf("dead agent %d answered: %v %s", a.index, err, out)
				}
			case slow:
				if !answered || took < 700*time.Millisecond {
					t.Errorf("slow agent %d: answered=%v after %v (want >= 700ms): %s", a.index, answered, took, out)
				}
			default:
				if !answered || took > 650*time.Millisecond {
					t.Errorf("agent %d: answered=%v after %v: %s", a.index, answered, took, out)
				}
			}
		}()
	}
	wg.Wait()
	// The same seed picks the same agents.
	again := pickModes(10, 0.2, 0.3, 7)
	for i, a := range s.agents {
		if again[i] != a.mode {
			t.Fatalf("seed 7 is not reproducible at agent %d", i)
		}
	}
}

// TestManyAgents: 200 agents mixing a UPS and a switch answer a GET each,
// concurrently, with their recording's values.
func TestManyAgents(t *testing.T) {
	ups, sw := recordingPath(t, "apc_smt750x-nmc2"), recordingPath(t, "ios_2960x")
	s := startSim(t, "--device", "ups="+ups, "--device", "switch="+sw, "--mix", "ups:1,switch:3", "--agents", "200")
	if len(s.agents) != 200 {
		t.Fatalf("%d agents", len(s.agents))
	}
	want := map[string]expected{"ups": readExpected(t, ups), "switch": readExpected(t, sw)}
	oids := []string{".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.5.0"}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	counts := map[string]int{}
	for _, a := range s.agents {
		counts[a.rec.name]++
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			g := client(t, a.port, "public", 2*time.Second)
			g.Retries = 2
			p, err := g.Get(oids)
			if err != nil {
				t.Errorf("agent %d: %v", a.index, err)
				return
			}
			ex := want[a.rec.name]
			for i, v := range p.Variables {
				if v.Name != oids[i] {
					t.Errorf("agent %d: varbind %d is %s", a.index, i, v.Name)
					continue
				}
				got := fmt.Sprint(v.Value)
				if b, ok := v.Value.([]byte); ok {
					got = "Hex-STRING: " + strings.ToUpper(fmt.Sprintf("% x", b))
				} else if v.Type == gosnmp.ObjectIdentifier {
					got = "OID: " + got
				}
				if got != ex.values[oids[i]] {
					t.Errorf("agent %d (%s): %s = %q, want %q", a.index, a.rec.name, oids[i], got, ex.values[oids[i]])
				}
			}
		}()
	}
	wg.Wait()
	if counts["ups"] != 50 || counts["switch"] != 150 {
		t.Errorf("mix ups:1,switch:3 over 200 agents gave %v", counts)
	}
	if n := s.served(); n < 200 {
		t.Errorf("served %d requests, want >= 200", n)
	}
}

// TestSinglePort: one port, the community selects the recording; an
// unknown community gets no answer.
func TestSinglePort(t *testing.T) {
	s := startSim(t, "--single-port", "--device", recordingPath(t, "eatonups"),
		"--device", "genset="+recordingPath(t, "himoinsa-gensets"))
	port := s.agents[0].port
	for _, a := range s.agents {
		if a.port != port {
			t.Fatalf("--single-port: agent %s on port %d, not %d", a.rec.name, a.port, port)
		}
	}
	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "genset", testpeer.Addr(port), ".1.3.6.1.2.1.1.2.0")
	if err != nil || !strings.Contains(out, "OID: .0.0") {
		t.Errorf("community genset: %v %s", err, out)
	}
	out, err = netsnmp(t, "snmpget", "-v2c", "-c", "eatonups", testpeer.Addr(port), ".1.3.6.1.2.1.1.2.0")
	if err != nil || !strings.Contains(out, "OID: .1.3.6.1.4.1.534") {
		t.Errorf("community eatonups: %v %s", err, out)
	}
	out, err = netsnmp(t, "snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", testpeer.Addr(port), ".1.3.6.1.2.1.1.2.0")
	if err == nil || !strings.Contains(out, "Timeout") {
		t.Errorf("unknown community answered: %s", out)
	}
}

// TestCounterRate: with --counter-rate, Counter32/64 and sysUpTime grow.
func TestCounterRate(t *testing.T) {
	s := startSim(t, "--device", "sw="+recordingPath(t, "ios_2960x"), "--counter-rate", "1000")
	g := client(t, s.agents[0].port, "public", 2*time.Second)
	oids := []string{".1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.2.2.1.13.1", ".1.3.6.1.2.1.31.1.1.1.6.1", ".1.3.6.1.2.1.31.1.1.1.15.1"}
	get := func() []uint64 {
		p, err := g.Get(oids)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, v := range p.Variables {
			out = append(out, gosnmp.ToBigInt(v.Value).Uint64())
		}
		return out
	}
	a := get()
	if a[0] < 718475737 || a[2] < 365633155 || a[3] != 1000 {
		t.Fatalf("first values %v do not start from the recording", a)
	}
	time.Sleep(300 * time.Millisecond)
	b := get()
	if b[0] < a[0]+20 {
		t.Errorf("sysUpTime %d → %d over 300 ms", a[0], b[0])
	}
	for i := 1; i <= 2; i++ {
		if d := b[i] - a[i]; d < 40 || d > 3000 { // 1000/s × 0.5..1.5 per agent × 0.5..1.5 per OID × >= 0.3 s
			t.Errorf("%s grew by %d in 300 ms", oids[i], d)
		}
	}
	if b[3] != a[3] {
		t.Errorf("Gauge32 %s moved: %d → %d", oids[3], a[3], b[3])
	}
}

// TestProgram runs the real program (this test binary re-executed): the
// port table on stdout (one line per recording, in the order of their
// sorted paths, all on the one port), answers, --stats on stderr, clean
// exit on SIGTERM.
func TestProgram(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "snmprec")
	files, _ := filepath.Glob(filepath.Join(dir, "*.snmprec"))
	sort.Strings(files)
	if len(files) < 20 {
		t.Fatalf("only %d recordings in %s", len(files), dir)
	}
	base := testpeer.FreeUDPPort(t)
	cmd := exec.Command(os.Args[0], "--data-dir", dir, "--listen", "127.0.0.1", "--base-port", fmt.Sprint(base),
		"--single-port", "--stats", "--stats-interval", "200ms")
	cmd.Env = append(os.Environ(), "VEDETTA_SIM_MAIN=1")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, len(files))
	go func() {
		defer close(lines)
		rd := bufio.NewReader(stdout)
		for range files {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			lines <- line
		}
	}()
	for i, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		want := fmt.Sprintf("127.0.0.1:%d\t%s\tcommunity=%s\tok\t%s\n", base, name, name, f)
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("table ends after %d lines, want %d\n%s", i, len(files), stderr.String())
			}
			if line != want {
				t.Errorf("table line %d is %q, want %q", i, line, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("table line %d not printed within 10 s\n%s", i, stderr.String())
		}
	}
	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "ios_2960x", testpeer.Addr(base), ".1.3.6.1.2.1.1.2.0")
	if err != nil || !strings.Contains(out, "OID: .1.3.6.1.4.1.9.1.1208") {
		t.Errorf("snmpget: %v %s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5 s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "requests_per_s=") || !strings.Contains(stderr.String(), "vedetta-sim stopped\" served=1") {
		t.Errorf("stderr lacks stats or the stop line:\n%s", stderr.String())
	}
}

// TestFlags rejects bad command lines.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--device", "x=/a", "--dead", "0.7", "--slow", "0.5"},
		{"--device", "x=/a", "--single-port", "--agents", "3"},
		{"--device", "x=/a", "--mix", "x:z"},
		{"--device", "x=/a", "--max-msg", "100"},
	} {
		if _, err := parseFlags(args, &strings.Builder{}); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	c, err := parseFlags([]string{"--device", "ups=/a", "--device", "/b/ios.snmprec", "--mix", "ups:2,ios"}, &strings.Builder{})
	if err != nil || len(c.devices) != 2 || c.devices[1].name != "ios" || c.mix[0].weight != 2 || c.mix[1].weight != 1 {
		t.Errorf("parseFlags: %+v %v", c, err)
	}
}

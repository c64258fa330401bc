package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// startSimd serves one recording with snmpsimd (community = its name).
func startSimd(t *testing.T, name string) string {
	t.Helper()
	bin := testpeer.Need(t, "snmpsimd")
	src := filepath.Join(testpeer.SharedTestdata(t, "snmprec"), name+".snmprec")
	root, err := os.MkdirTemp("", "vedetta-snmpsim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	data, cache := filepath.Join(root, "data"), filepath.Join(root, "cache")
	_ = os.MkdirAll(data, 0o755)
	_ = os.MkdirAll(cache, 0o777)
	_ = os.Chmod(root, 0o755)
	_ = os.Chmod(cache, 0o777)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, _ := os.Create(filepath.Join(data, name+".snmprec"))
	_, _ = io.Copy(out, in)
	_ = out.Chmod(0o644)
	out.Close()
	addr := testpeer.Addr(testpeer.FreeUDPPort(t))
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.Start(t, nil, bin, args...)
	host, port, _ := net.SplitHostPort(addr)
	var p uint16
	for _, c := range port {
		p = p*10 + uint16(c-'0')
	}
	testpeer.WaitFor(t, 30*time.Second, "snmpsimd", func() bool {
		g := &gosnmp.GoSNMP{Target: host, Port: p, Community: name, Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Context: context.Background()}
		if g.Connect() != nil {
			return false
		}
		defer g.Conn.Close()
		_, err := g.Get([]string{"1.3.6.1.2.1.1.2.0"})
		return err == nil
	})
	return addr
}

func runSNMPCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return o.String(), e.String(), err
}

func TestProbeSNMPPrintsNormalizedSamples(t *testing.T) {
	addr := startSimd(t, "poweralert_2")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"auto", []string{"probe", "snmp", addr, "--community", "poweralert_2"},
			[]string{"# profiles: if-mib, ups-mib", "ups_alarms_active 2", "ups_battery_replace_needed 1", "ups_on_battery 0"}},
		{"named profile", []string{"probe", "snmp", addr, "--community", "poweralert_2", "--profile", "ups-mib"},
			[]string{"# profiles: ups-mib", "ups_battery_runtime_seconds 1440"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runSNMPCLI(t, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.name == "named profile" && strings.Contains(out, "if_oper_up") {
				t.Errorf("--profile ups-mib still polled IF-MIB:\n%s", out)
			}
		})
	}
}

func TestProbeSNMPUnreachableExitsNonZeroWithinTimeout(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tests := []struct{ name, addr, want string }{
		{"nothing listens", testpeer.Addr(testpeer.FreeUDPPort(t)), "nothing listens there"},
		{"no answer", silent.LocalAddr().String(), "no answer within 300ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, errOut, err := runSNMPCLI(t, "probe", "snmp", tc.addr, "--timeout", "300ms")
			if ec, ok := err.(exitCode); !ok || ec != 2 {
				t.Fatalf("err = %v, want exit code 2", err)
			}
			if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, tc.addr) {
				t.Errorf("stderr %q should name the address and say %q", errOut, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestProfilesListsEmbeddedAndUserProfiles(t *testing.T) {
	dir := t.TempDir()
	user := "name: my-ups\nmib: MY-UPS-MIB\nclass: ups\ndescription: test\nmatch: {sysobjectid: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: ups_on_battery, oid: 1.3.6.1.4.1.99999.1.0}\n"
	if err := os.WriteFile(filepath.Join(dir, "my.yaml"), []byte(user), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSNMPCLI(t, "profiles", "--profile-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ups-mib", "apc-ups", "himoinsa", "my-ups", "MY-UPS-MIB", "subtree 1.3.6.1.2.1.33.1"} {
		if !strings.Contains(out, w) {
			t.Errorf("profiles output lacks %q", w)
		}
	}
}

// The probe shows, per value read, raw -> normalized and the plausibility
// decision: the MGE Galaxy's tenths autoscaled, NetVision's 65535 minutes
// dropped as a sentinel (and no sample for it).
func TestProbeSNMPExplainsDecisions(t *testing.T) {
	tests := []struct {
		recording string
		want      []string
		absent    []string
	}{
		{"apc-mgeups_galaxy7000",
			[]string{"# ups_input_voltage_volts[1.0] raw 2363 -> 236.3 (scale 0.1, autoscale x0.1 chosen; range [80, 700] or 0): exported",
				`ups_input_voltage_volts{line="1"} 236.3`},
			[]string{"2363\n"}},
		{"netvision-rfc",
			[]string{"# ups_battery_runtime_seconds raw 65535 -> 3932100 (scale 60; range [0, 604800]): dropped, sentinel"},
			[]string{"\nups_battery_runtime_seconds "}},
	}
	for _, tc := range tests {
		t.Run(tc.recording, func(t *testing.T) {
			addr := startSimd(t, tc.recording)
			out, errOut, err := runSNMPCLI(t, "probe", "snmp", addr, "--community", tc.recording, "--timeout", "3s")
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
			quiet, _, err := runSNMPCLI(t, "probe", "snmp", addr, "--community", tc.recording, "--timeout", "3s", "--explain=false")
			if err != nil || strings.Contains(quiet, " raw ") {
				t.Errorf("--explain=false still explains (err %v):\n%s", err, quiet)
			}
		})
	}
}

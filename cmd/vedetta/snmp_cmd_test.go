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

// startSimd serves one recording with snmpsimd (community = its name;
// extra adds arguments, such as an SNMPv3 user).
func startSimd(t *testing.T, name string, extra ...string) string {
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
	args := append([]string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}, extra...)
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)
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

// SNMPv3 passphrases can come from files or the environment, so that they
// are not in ps; a file's trailing newline is not part of it; a flag wins
// over the environment; a flag and its file at once are refused; and a
// wrong passphrase is never echoed back.
func TestProbeSNMPv3PassphrasesFromEnvAndFiles(t *testing.T) {
	const auth, priv = "authpass123", "privpass123"
	addr := startSimd(t, "poweralert_2", "--v3-user=simv3", "--v3-auth-key="+auth, "--v3-auth-proto=SHA",
		"--v3-priv-key="+priv, "--v3-priv-proto=AES")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	authFile, privFile := file("auth", auth+"\n"), file("priv", priv+"\r\n")
	wrongPriv := file("wrong", "wrongpass456\n")
	base := []string{"probe", "snmp", addr, "--user", "simv3", "--auth-protocol", "SHA", "--priv-protocol", "AES",
		"--context", "poweralert_2", "--profile", "ups-mib", "--timeout", "500ms"}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		ok        bool
		wantError string
	}{
		{"environment", map[string]string{envAuthPassphrase: auth, envPrivPassphrase: priv}, nil, true, ""},
		{"files", nil, []string{"--auth-passphrase-file", authFile, "--priv-passphrase-file", privFile}, true, ""},
		{"flag wins over environment", map[string]string{envAuthPassphrase: auth, envPrivPassphrase: "wrongpass456"},
			[]string{"--priv-passphrase", priv}, true, ""},
		{"wrong passphrase in a file", nil, []string{"--auth-passphrase-file", authFile, "--priv-passphrase-file", wrongPriv}, false, "no answer within 500ms"},
		{"flag and file", nil, []string{"--auth-passphrase", auth, "--auth-passphrase-file", authFile, "--priv-passphrase-file", privFile},
			false, "--auth-passphrase and --auth-passphrase-file both given"},
		{"missing file", nil, []string{"--auth-passphrase-file", filepath.Join(dir, "nope"), "--priv-passphrase-file", privFile},
			false, "--auth-passphrase-file: open " + filepath.Join(dir, "nope")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{envAuthPassphrase, envPrivPassphrase} {
				t.Setenv(k, tc.env[k])
			}
			out, errOut, err := runSNMPCLI(t, append(append([]string{}, base...), tc.args...)...)
			if tc.ok {
				if err != nil || !strings.Contains(out, "ups_battery_runtime_seconds 1440\n") {
					t.Fatalf("err %v, stderr %q, output lacks the UPS runtime:\n%s", err, errOut, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if msg := errOut + err.Error(); !strings.Contains(msg, tc.wantError) {
				t.Errorf("error %q, stderr %q: want %q", err, errOut, tc.wantError)
			}
			for _, secret := range []string{auth, priv, "wrongpass456"} {
				if strings.Contains(out+errOut+err.Error(), secret) {
					t.Errorf("the output shows a passphrase (%s): %v %s %s", secret, err, errOut, out)
				}
			}
		})
	}
}

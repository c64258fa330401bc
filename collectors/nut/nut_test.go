package nut

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/model"
)

func newCollector(t *testing.T, src string) collectors.Collector {
	t.Helper()
	c, err := New(collectors.Spec{Name: "ups", Kind: "nut", BaseDir: t.TempDir()}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestSplitLine(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{`VAR ups ups.status "OL CHRG"`, []string{"VAR", "ups", "ups.status", "OL CHRG"}, false},
		{`VAR ups x "say \"hi\" \\ ok"`, []string{"VAR", "ups", "x", `say "hi" \ ok`}, false},
		{`UPS rack1 ""`, []string{"UPS", "rack1", ""}, false},
		{`  BEGIN   LIST  UPS `, []string{"BEGIN", "LIST", "UPS"}, false},
		{`VAR ups x "unterminated`, nil, true},
		{`VAR ups x "a"b`, nil, true},
		{`VAR u"ps x`, nil, true},
	}
	for _, tc := range cases {
		got, err := SplitLine(tc.in)
		if (err != nil) != tc.err || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("SplitLine(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestMap(t *testing.T) {
	cases := []struct {
		name   string
		vars   map[string]string
		metric string
		labels []string
		want   float64
		absent bool
	}{
		{"OB LB", map[string]string{"ups.status": "OB LB DISCHRG"}, "ups_battery_low", nil, 1, false},
		{"OL", map[string]string{"ups.status": "OL CHRG"}, "ups_on_battery", nil, 0, false},
		{"bypass", map[string]string{"ups.status": "OL BYPASS"}, "ups_on_bypass", nil, 1, false},
		{"replace battery", map[string]string{"ups.status": "OL RB"}, "ups_battery_replace_needed", nil, 1, false},
		{"alarm flag only", map[string]string{"ups.status": "ALARM OL"}, "ups_alarms_active", nil, 1, false},
		{"no alarm", map[string]string{"ups.status": "OL"}, "ups_alarms_active", nil, 0, false},
		{"WAIT gives no flags", map[string]string{"ups.status": "WAIT"}, "ups_on_battery", nil, 0, true},
		{"no status, no flags", map[string]string{"battery.charge": "50"}, "ups_on_battery", nil, 0, true},
		{"not a number", map[string]string{"battery.charge": "n/a"}, "ups_battery_charge_percent", nil, 0, true},
		{"comma decimal", map[string]string{"battery.charge": "99,5"}, "ups_battery_charge_percent", nil, 0, true},
		{"runtime", map[string]string{"battery.runtime": "1260"}, "ups_battery_runtime_seconds", nil, 1260, false},
		{"single phase is line 1", map[string]string{"input.voltage": "231.5"}, "ups_input_voltage_volts", []string{"line", "1"}, 231.5, false},
		{"load", map[string]string{"ups.load": "37"}, "ups_output_load_percent", []string{"line", "1"}, 37, false},
		{"phase wins", map[string]string{"input.voltage": "400", "input.L2-N.voltage": "229"}, "ups_input_voltage_volts", []string{"line", "2"}, 229, false},
		{"ATS source B", map[string]string{"device.type": "ats", "input.source": "2"}, "ats_selected_source", nil, 2, false},
		{"ATS lost A", map[string]string{"device.type": "ats", "input.1.voltage.status": "out of range", "input.2.voltage.status": "good"}, "ats_redundancy_lost", nil, 1, false},
		{"ATS source A bad", map[string]string{"device.type": "ats", "input.1.voltage.status": "out of range"}, "ats_source_ok", []string{"source", "A"}, 0, false},
		{"ATS no status: volts", map[string]string{"device.type": "ats", "input.1.voltage": "0", "input.2.voltage": "230"}, "ats_source_ok", []string{"source", "A"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := collectortest.Value(Map(tc.vars), tc.metric, tc.labels...)
			if ok == tc.absent || v != tc.want {
				t.Errorf("%s = %v (present %v), want %v (absent %v)", tc.metric, v, ok, tc.want, tc.absent)
			}
		})
	}
}

// fakeUPSD answers scripted lines: for each command received, reply(cmd)
// returns what to write back, and whether to close the connection after.
func fakeUPSD(t *testing.T, tlsCfg *tls.Config, reply func(cmd string) (string, bool)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				var w net.Conn = c
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.TrimSpace(line)
					if cmd == "STARTTLS" && tlsCfg != nil {
						fmt.Fprint(w, "OK STARTTLS\n")
						tc := tls.Server(c, tlsCfg)
						if tc.Handshake() != nil {
							return
						}
						w, r = tc, bufio.NewReader(tc)
						continue
					}
					out, closeAfter := reply(cmd)
					fmt.Fprint(w, out)
					if closeAfter {
						return
					}
				}
			}(c)
		}
	}()
	return l.Addr().String()
}

const listVar = "BEGIN LIST VAR rack1\nVAR rack1 ups.status \"OB LB\"\nVAR rack1 battery.charge \"8\"\nEND LIST VAR rack1\n"

func standardReply(cmd string) (string, bool) {
	switch {
	case cmd == "STARTTLS":
		return "ERR FEATURE-NOT-CONFIGURED\n", false
	case strings.HasPrefix(cmd, "USERNAME"), strings.HasPrefix(cmd, "PASSWORD"):
		return "OK\n", false
	case cmd == "LIST UPS":
		return "BEGIN LIST UPS\nUPS rack1 \"Rack 1\"\nEND LIST UPS\n", false
	case cmd == "LIST VAR rack1":
		return listVar, false
	case cmd == "LOGOUT":
		return "OK Goodbye\n", true
	}
	return "ERR UNKNOWN-COMMAND\n", false
}

func TestFakeServer(t *testing.T) {
	cases := []struct {
		name    string
		reply   func(string) (string, bool)
		extra   string
		wantErr string
		check   func(t *testing.T, got []model.Sample)
	}{
		{"plain", standardReply, "", "", func(t *testing.T, got []model.Sample) {
			if v, _ := collectortest.Value(got, "ups_battery_low", "ups", "rack1"); v != 1 {
				t.Errorf("ups_battery_low = %v", v)
			}
		}},
		{"drop mid-LIST", func(cmd string) (string, bool) {
			if cmd == "LIST VAR rack1" {
				return "BEGIN LIST VAR rack1\nVAR rack1 ups.status \"OL\"\nVAR rack1 battery.ch", true
			}
			return standardReply(cmd)
		}, "", "connection closed by upsd before the list was complete", func(t *testing.T, got []model.Sample) {
			if _, ok := collectortest.Value(got, "ups_on_battery"); ok {
				t.Error("a half-read UPS must not emit values")
			}
			if v, ok := collectortest.Value(got, "nut_ups_up", "ups", "rack1"); !ok || v != 0 {
				t.Errorf("nut_ups_up = %v %v, want 0", v, ok)
			}
		}},
		{"access denied", func(cmd string) (string, bool) {
			if strings.HasPrefix(cmd, "PASSWORD") {
				return "ERR ACCESS-DENIED\n", false
			}
			return standardReply(cmd)
		}, "username: u, password: p", "ACCESS-DENIED", nil},
		{"data stale", func(cmd string) (string, bool) {
			if cmd == "LIST VAR rack1" {
				return "ERR DATA-STALE\n", false
			}
			return standardReply(cmd)
		}, "", "DATA-STALE", nil},
		{"garbage list", func(cmd string) (string, bool) {
			if cmd == "LIST UPS" {
				return "HELLO\n", false
			}
			return standardReply(cmd)
		}, "", "expected BEGIN LIST", nil},
		{"silent server hits the deadline", func(cmd string) (string, bool) {
			if cmd == "LIST UPS" {
				return "", false
			}
			return standardReply(cmd)
		}, "", "i/o timeout", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeUPSD(t, nil, tc.reply)
			src := fmt.Sprintf("nut: {address: %q", addr)
			if tc.extra != "" {
				src += ", " + tc.extra
			}
			c := newCollector(t, src+"}")
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			var got []model.Sample
			err := c.Collect(ctx, func(s model.Sample) { got = append(got, s) })
			if !collectortest.ErrMatches(err, tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestSTARTTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	addr := fakeUPSD(t, &tls.Config{Certificates: []tls.Certificate{cert}}, standardReply)
	c := newCollector(t, fmt.Sprintf("nut: {address: %q, tls: required, ca_file: %s, server_name: localhost}", addr, caFile))
	got, err := collectortest.Collect(c, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := collectortest.Value(got, "nut_tls"); v != 1 {
		t.Errorf("nut_tls = %v, want 1", v)
	}
	if v, _ := collectortest.Value(got, "ups_on_battery", "ups", "rack1"); v != 1 {
		t.Errorf("ups_on_battery = %v, want 1 (read over TLS)", v)
	}
	// Without the CA the certificate must be refused, not silently ignored.
	bad := newCollector(t, fmt.Sprintf("nut: {address: %q}", addr))
	if _, err := collectortest.Collect(bad, 5*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a certificate error", err)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
}

func TestOptions(t *testing.T) {
	cases := []struct{ src, wantErr string }{
		{"nut: {address: 127.0.0.1:3493, ups: rack1}", ""},
		{"nut: {address: upshost}", ""},
		{"nut: {tls: maybe}", "not one of"},
		{"nut: {username: u}", "both username and password"},
		{"nut: {ca_file: /nonexistent/ca.pem}", "ca_file"},
		{"nut: {adress: x}", "not found"},
	}
	for _, tc := range cases {
		_, err := New(collectors.Spec{Name: "x"}, collectortest.DecodeYAML(tc.src))
		if !collectortest.ErrMatches(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.wantErr)
		}
	}
}

// hasLine: whether answer has a line of these words, in upsd's syntax
// (blanks of any kind between words, a tab too, and quoted words).
func hasLine(answer, words string) bool {
	for _, l := range strings.Split(answer, "\n") {
		if sameWords(strings.TrimRight(l, "\r"), words) {
			return true
		}
	}
	return false
}

// FuzzReadList feeds arbitrary server answers to the LIST reader and the
// mapping: never a panic, and every item it returns has at least one word.
func FuzzReadList(f *testing.F) {
	f.Add(listVar)
	f.Add("BEGIN LIST VAR rack1\nVAR rack1 x \"a\\\"b\"\nEND LIST VAR rack1\n")
	f.Add("BEGIN LIST VAR rack1\nVAR rack1 ups.status \"OL")
	f.Add("ERR DATA-STALE\n")
	f.Add("BEGIN LIST VAR rack1\nVAR rack1 device.type \"ats\"\nVAR rack1 input.1.voltage.status \"bad\"\nEND LIST VAR rack1\n")
	f.Fuzz(func(t *testing.T, answer string) {
		items, err := readList(bufio.NewReader(strings.NewReader(answer)), "LIST VAR rack1", "VAR rack1", "VAR")
		vars := map[string]string{}
		for _, it := range items {
			if len(it) == 0 {
				t.Fatalf("empty item from %q", answer)
			}
			if len(it) >= 3 {
				vars[it[1]] = it[2]
			}
		}
		if err == nil && !hasLine(answer, "END LIST VAR rack1") {
			t.Fatalf("no error for a list without END: %q", answer)
		}
		for _, s := range Map(vars) {
			if s.Value != s.Value {
				t.Fatalf("NaN sample %s", s.Name)
			}
		}
	})
}

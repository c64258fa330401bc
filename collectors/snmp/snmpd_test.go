package snmp

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// startSnmpd is the shared net-snmp UPS agent (testpeer.StartSnmpdUPS).
func startSnmpd(t testing.TB) string { return testpeer.StartSnmpdUPS(t) }

func pollSamples(t *testing.T, k *Collector) (map[string]float64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]float64{}
	_, err := k.Poll(ctx, func(s model.Sample) { got[s.Name+s.Labels.String()] = s.Value })
	return got, err
}

func TestSNMPv3AuthPrivAgainstSnmpd(t *testing.T) {
	addr := startSnmpd(t)
	tests := []struct {
		name, user, auth, priv string
	}{
		{"SHA/AES", "rigv3", "SHA", "AES"},
		{"SHA-512/AES-256", "rig512", "SHA-512", "AES-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewCollector("ups", Options{SNMP: Agent{Address: addr, Version: "3", User: tc.user,
				Auth: &Auth{Protocol: tc.auth, Passphrase: "authpass123"}, Priv: &Priv{Protocol: tc.priv, Passphrase: "privpass123"},
				Timeout: time.Second}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pollSamples(t, k)
			if err != nil {
				t.Fatal(err)
			}
			if got["ups_battery_charge_percent{}"] != 100 || got["ups_battery_runtime_seconds{}"] != 45*60 {
				t.Errorf("unexpected samples: %v", got)
			}
			if got[`snmp_profile_matched{profile="ups-mib"}`] != 1 {
				t.Errorf("ups-mib not detected by sysObjectID: %v", got)
			}
		})
	}
}

func TestSNMPv3WrongPassphraseFailsClearlyAndFast(t *testing.T) {
	addr := startSnmpd(t)
	tests := []struct {
		name       string
		auth, priv string
		want       string
	}{
		{"wrong auth passphrase", "wrongpass123", "privpass123", "authentication failed"},
		{"wrong priv passphrase", "authpass123", "wrongpass123", "SNMPv3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zero := 0
			k, err := NewCollector("ups", Options{SNMP: Agent{Address: addr, Version: "3", User: "rigv3",
				Auth: &Auth{Protocol: "SHA", Passphrase: secret(tc.auth)}, Priv: &Priv{Protocol: "AES", Passphrase: secret(tc.priv)},
				Timeout: 500 * time.Millisecond, Retries: &zero}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = pollSamples(t, k)
			if err == nil {
				t.Fatal("poll with a wrong passphrase succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.auth) {
				t.Errorf("error %q should say %q and never print the passphrase", err, tc.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}

func TestSnmpsetBetweenPolls(t *testing.T) {
	addr := startSnmpd(t)
	k, err := NewCollector("ups", Options{SNMP: Agent{Address: addr, Community: "public"}, Profiles: []string{"ups-mib"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := pollSamples(t, k)
	if err != nil {
		t.Fatal(err)
	}
	if before["ups_on_battery{}"] != 0 || before["ups_battery_low{}"] != 0 {
		t.Fatalf("before: %v", before)
	}
	for _, set := range [][]string{{"1.3.6.1.2.1.33.1.4.1.0", "i", "5"}, {"1.3.6.1.2.1.33.1.2.1.0", "i", "3"}} {
		out, err := exec.Command("snmpset", append([]string{"-v2c", "-c", "private", "-On", "-t", "1", "-r", "1", addr}, set...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("snmpset: %v\n%s", err, out)
		}
	}
	after, err := pollSamples(t, k)
	if err != nil {
		t.Fatal(err)
	}
	if after["ups_on_battery{}"] != 1 || after["ups_battery_low{}"] != 1 {
		t.Errorf("after snmpset: %v", after)
	}
}

func TestUnreachableAgentFailsWithinTimeout(t *testing.T) {
	tests := []struct {
		name, addr string
	}{
		// Nothing listens there: the kernel answers port unreachable.
		{"closed port", testpeer.Addr(testpeer.FreeUDPPort(t))},
		// A socket that reads and never answers: a real timeout.
		{"silent agent", silentUDP(t)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zero := 0
			k, err := NewCollector("dead", Options{SNMP: Agent{Address: tc.addr, Timeout: 300 * time.Millisecond, Retries: &zero}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = pollSamples(t, k)
			if err == nil {
				t.Fatal("no error from a dead agent")
			}
			if !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("error %q does not name the address", err)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("took %v for a 300ms timeout", d)
			}
		})
	}
}

// silentUDP listens on loopback and never answers.
func silentUDP(t testing.TB) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

package snmp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// passScript is a net-snmp `pass` program: it answers GET (-g) and GETNEXT
// (-n) from a file of OID|type|value lines the test writes, read anew at
// every request, so the test changes values between polls.
const passScript = `#!/usr/bin/python3
import sys
def key(o):
    return [int(x) for x in o.strip('.').split('.')]
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        o, t, v = line.split('|', 2)
        rows.append((key(o), o.strip('.'), t, v))
rows.sort()
mode, want = sys.argv[2], key(sys.argv[3])
for k, o, t, v in rows:
    if (mode == '-g' and k == want) or (mode == '-n' and k > want):
        print('.' + o)
        print(t)
        print(v)
        break
`

// startPassSnmpd runs net-snmp's snmpd serving VRRP-MIB, IEEE8023-LAG-MIB
// and IF-MIB ifName through `pass` from the file data (ifXTable's own
// module is off, so ifName is what the file says). No recording of
// ../shared/testdata has VRRP-MIB, nor a LAG with members: the tables are
// written from the MIBs.
func startPassSnmpd(t *testing.T) (addr, data string) {
	t.Helper()
	bin := testpeer.Need(t, "/usr/sbin/snmpd", "snmpd")
	get := testpeer.Need(t, "snmpget")
	testpeer.Need(t, "python3")
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)
	script := filepath.Join(dir, "pass.py")
	if err := os.WriteFile(script, []byte(passScript), 0o755); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	addr = testpeer.Addr(testpeer.FreeUDPPort(t))
	conf := fmt.Sprintf(`agentAddress udp:%s
rocommunity public 127.0.0.1
sysObjectID .1.3.6.1.4.1.8072.3.2.10
pass .1.3.6.1.2.1.68 %s %s
pass .1.2.840.10006.300.43 %s %s
pass .1.3.6.1.2.1.31.1.1.1.1 %s %s
`, addr, script, data, script, data, script, data)
	cf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	writeRows(t, data, map[string]string{})
	testpeer.Start(t, nil, bin, "-f", "-Lo", "-C", "-c", cf, "-p", filepath.Join(dir, "snmpd.pid"), "-m", "",
		"-I", "-smux,ifXTable")
	testpeer.WaitFor(t, 15*time.Second, "snmpd ready", func() bool {
		return exec.Command(get, "-v2c", "-c", "public", "-t", "0.2", "-r", "0", "-On", addr, ".1.3.6.1.2.1.1.2.0").Run() == nil
	})
	return addr, data
}

// writeRows writes the pass file atomically (a request never reads half).
func writeRows(t *testing.T, path string, rows map[string]string) {
	t.Helper()
	var b strings.Builder
	for oid, tv := range rows {
		b.WriteString(oid + "|" + tv + "\n")
	}
	if err := os.WriteFile(path+".new", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestVRRPAndLAGAgainstSnmpd polls a real snmpd serving VRRP-MIB and
// IEEE8023-LAG-MIB with profiles: [auto], flips the VRRP master and a LAG
// member between polls, and checks the normalized samples: ifname read
// from ifName at a part of the index (VRRP) or at the row another column
// names (the LAG's aggregator), nonzero, the admin-key filter.
func TestVRRPAndLAGAgainstSnmpd(t *testing.T) {
	addr, data := startPassSnmpd(t)
	const (
		vrrpState = "1.3.6.1.2.1.68.1.3.1.3."
		lagPort   = "1.2.840.10006.300.43.1.2.1.1."
		ifName    = "1.3.6.1.2.1.31.1.1.1.1."
	)
	rows := func(vrrp7, vrrp8 int, att7, att8 int) map[string]string {
		return map[string]string{
			ifName + "7":   "string|swp7",
			ifName + "8":   "string|swp8",
			ifName + "9":   "string|swp9",
			ifName + "100": "string|bond0",
			// VRRP: ifIndex.vrid; initialize(1) backup(2) master(3).
			vrrpState + "7.10": fmt.Sprintf("integer|%d", vrrp7),
			vrrpState + "8.20": fmt.Sprintf("integer|%d", vrrp8),
			// LAG ports 7 and 8 in bond0 (ifIndex 100, key 1); port 9 in
			// no bundle (key 0): skipped.
			lagPort + "1.7": "integer|7", lagPort + "1.8": "integer|8", lagPort + "1.9": "integer|9",
			lagPort + "4.7": "integer|1", lagPort + "4.8": "integer|1", lagPort + "4.9": "integer|0",
			lagPort + "12.7": "integer|100", lagPort + "12.8": "integer|100", lagPort + "12.9": "integer|0",
			lagPort + "13.7": fmt.Sprintf("integer|%d", att7), lagPort + "13.8": fmt.Sprintf("integer|%d", att8),
			lagPort + "13.9": "integer|0",
		}
	}
	o := Options{SNMP: Agent{Address: addr, Community: secret("public"), Timeout: 2 * time.Second}}
	steps := []struct {
		name         string
		vrrp7, vrrp8 int
		att7, att8   int
		want         string
	}{
		{"swp7 master, swp8 detached", 3, 2, 100, 0, `lag_member_attached{ifname="swp7",lag="bond0"} 1
lag_member_attached{ifname="swp8",lag="bond0"} 0
vrrp_master{ifname="swp7",vrid="10"} 1
vrrp_master{ifname="swp8",vrid="20"} 0`},
		{"failover", 2, 3, 0, 100, `lag_member_attached{ifname="swp7",lag="bond0"} 0
lag_member_attached{ifname="swp8",lag="bond0"} 1
vrrp_master{ifname="swp7",vrid="10"} 0
vrrp_master{ifname="swp8",vrid="20"} 1`},
		{"initialize is not master", 1, 3, 100, 100, `lag_member_attached{ifname="swp7",lag="bond0"} 1
lag_member_attached{ifname="swp8",lag="bond0"} 1
vrrp_master{ifname="swp7",vrid="10"} 0
vrrp_master{ifname="swp8",vrid="20"} 1`},
	}
	for _, st := range steps {
		writeRows(t, data, rows(st.vrrp7, st.vrrp8, st.att7, st.att8))
		got, err := poll(t, o)
		if err != nil {
			t.Fatalf("%s: poll: %v", st.name, err)
		}
		var lines []string
		for _, l := range strings.Split(string(got), "\n") {
			if strings.HasPrefix(l, "vrrp_") || strings.HasPrefix(l, "lag_") {
				lines = append(lines, l)
			}
		}
		sort.Strings(lines)
		if g := strings.Join(lines, "\n"); g != st.want {
			t.Errorf("%s:\n got %s\nwant %s\n(all samples:\n%s)", st.name, g, st.want, got)
		}
		for _, p := range []string{"vrrp", "ieee8023-lag"} {
			if !strings.Contains(string(got), `snmp_profile_matched{profile="`+p+`"} 1`) {
				t.Errorf("%s: auto-detection missed %s", st.name, p)
			}
		}
	}
}

// TestShippedNetworkRules runs configs/rules.d/network.yaml over real
// recordings polled through snmpsimd, and over variants of their samples
// changed at test time (a passive peer that stops being active, a unit
// that fails over, a PSU that fails): what fires, with its summary.
func TestShippedNetworkRules(t *testing.T) {
	rs := rulestest.Shipped(t, "network.yaml", "servers.yaml")
	recs := []string{"ocnos_s9600-32x", "dnos_bgp", "pfsense_frr-bgp", "junos_ex", "panos_5220", "gaia_15600",
		"fortigate_1500d-sensors", "ios_c3560", "routeros_wifi", "ptp670", "airos-af", "hpe-ilo_4", "supermicro-bmc_x11"}
	addr, _ := startSimd(t, "", recs...)
	samples := map[string][]model.Sample{}
	for _, r := range recs {
		k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret(r), Timeout: 3 * time.Second}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ss []model.Sample
		if _, err := k.Poll(t.Context(), func(s model.Sample) { ss = append(ss, s) }); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		samples[r] = ss
	}
	// set returns a copy of ss with every sample named name (and carrying
	// the label label=value, when label is given) set to v.
	set := func(ss []model.Sample, name, label, value string, v float64) []model.Sample {
		out := make([]model.Sample, len(ss))
		copy(out, ss)
		n := 0
		for i := range out {
			if out[i].Name == name && (label == "" || out[i].Labels.Get(label) == value) {
				out[i].Value = v
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no sample %s{%s=%q} to change", name, label, value)
		}
		return out
	}
	cases := []struct {
		name   string
		rounds [][]model.Sample // each replayed for 3 rounds of 30 s
		want   []string
	}{
		{"ocnos: the idle peer", [][]model.Sample{samples["ocnos_s9600-32x"]},
			[]string{"BGPSessionDown: BGP session to 100.127.0.201 (AS 65534) on edge-r1 is down (state idle)"}},
		{"dnos: both established", [][]model.Sample{samples["dnos_bgp"]}, nil},
		{"dnos: a peer goes active", [][]model.Sample{set(samples["dnos_bgp"], "bgp_peer_state", "peer", "10.255.0.49", 3)},
			[]string{"BGPSessionDown: BGP session to 10.255.0.49 (AS 7714) on edge-r1 is down (state active)"}},
		{"dnos: a peer shut down on purpose", [][]model.Sample{
			set(set(samples["dnos_bgp"], "bgp_peer_state", "peer", "10.255.0.49", 1), "bgp_peer_admin_enabled", "peer", "10.255.0.49", 0)}, nil},
		{"pfsense: 4-byte AS in the message", [][]model.Sample{set(samples["pfsense_frr-bgp"], "bgp_peer_state", "peer", "169.254.1.9", 2)},
			[]string{"BGPSessionDown: BGP session to 169.254.1.9 (AS 4200000004) on edge-r1 is down (state connect)"}},
		{"junos: all up", [][]model.Sample{samples["junos_ex"]}, nil},
		{"panos: active with a passive peer", [][]model.Sample{samples["panos_5220"]}, nil},
		{"panos: fails over", [][]model.Sample{samples["panos_5220"],
			set(set(samples["panos_5220"], "firewall_ha_active", "", "", 0), "firewall_ha_peer_active", "", "", 1)},
			[]string{"FirewallHAFailover: firewall edge-r1 failed over: it is now standby"}},
		{"panos: standby with a failed peer", [][]model.Sample{
			set(set(set(samples["panos_5220"], "firewall_ha_active", "", "", 0), "firewall_ha_peer_active", "", "", 0), "firewall_ha_peer_ok", "", "", 0)},
			[]string{"FirewallHANoActiveUnit: firewall pair of edge-r1 has no active unit (this one is standby, the peer is not active)",
				"FirewallHAPeerLost: the HA peer of firewall edge-r1 is not healthy: no failover possible"}},
		{"gaia: standby", [][]model.Sample{samples["gaia_15600"]}, nil},
		// The recording is of an active-passive cluster whose unit sees one
		// member: no standby.
		{"fortigate: a cluster of one", [][]model.Sample{samples["fortigate_1500d-sensors"]},
			[]string{"FirewallHAMemberLost: firewall cluster of edge-r1 sees 1 member(s): no failover possible"}},
		{"fortigate: both members, one out of sync", [][]model.Sample{
			set(set(samples["fortigate_1500d-sensors"], "firewall_ha_sync_ok", "", "", 0), "firewall_ha_members", "", "", 2)},
			nil}, // for: 5m, longer than 90 s
		{"fortigate: out of sync for 6 minutes", func() [][]model.Sample {
			ss := set(set(samples["fortigate_1500d-sensors"], "firewall_ha_sync_ok", "", "", 0), "firewall_ha_members", "", "", 2)
			return [][]model.Sample{ss, ss, ss, ss}
		}(), []string{"FirewallHAOutOfSync: HA member sto-fw-01 of firewall edge-r1 is out of sync: a failover would lose state"}},
		{"routeros: link up", [][]model.Sample{samples["routeros_wifi"]}, nil},
		{"routeros: link down", [][]model.Sample{set(samples["routeros_wifi"], "radio_link_up", "", "", 0)},
			[]string{"RadioLinkDown: radio link edge-r1 is down"}},
		{"ptp670: -52.8 dBm is fine", [][]model.Sample{samples["ptp670"]}, nil},
		{"hpe-ilo: healthy", [][]model.Sample{samples["hpe-ilo_4"]}, nil},
		{"hpe-ilo: PSU 2 fails", [][]model.Sample{set(samples["hpe-ilo_4"], "server_psu_ok", "psu", "2", 0)},
			[]string{"ServerPSUFailed: power supply 2 on edge-r1 has failed, lost its input or is absent: the server runs without a spare supply"}},
		{"supermicro: healthy", [][]model.Sample{samples["supermicro-bmc_x11"]}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rulestest.NewFeed(rs, "edge-r1", "router", 30*time.Second)
			for _, ss := range c.rounds {
				for range 3 {
					f.Round(ss)
				}
			}
			got := rulestest.Summaries(f.Engine)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("firing:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestNetdevImplausibleCounted: values of the new profiles that cannot be
// right are dropped and counted, never exported (the SIAE radio's radioPtx
// of -99 dBm, below any transmitter's range).
func TestNetdevImplausibleCounted(t *testing.T) {
	addr, _ := startSimd(t, "", "sm-os_80hdx")
	k, err := NewCollector("dev", Options{SNMP: Agent{Address: addr, Community: secret("sm-os_80hdx"), Timeout: 3 * time.Second},
		Profiles: []string{"siae-alfo"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := k.Poll(t.Context(), func(s model.Sample) { got = append(got, s.Name) }); err != nil {
		t.Fatal(err)
	}
	if n := k.Implausible("radio_transmit_power_dbm", ReasonOutOfRange); n != 1 {
		t.Errorf("radio_transmit_power_dbm out_of_range counted %v times, want 1", n)
	}
	for _, n := range got {
		if n == "radio_transmit_power_dbm" {
			t.Errorf("radioPtx -99 dBm was exported")
		}
	}
}

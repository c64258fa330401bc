package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	upsOutputStatus = ".1.3.6.1.4.1.318.1.1.1.4.1.1.0" // upsBasicOutputStatus: onLine(2), onBattery(3)
	upsRuntime      = ".1.3.6.1.4.1.318.1.1.1.2.2.3.0" // upsAdvBatteryRunTimeRemaining, TimeTicks
)

// post sends a /set or /reset and returns the status and body.
func post(t *testing.T, s *sim, path, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+s.adminAddr.String()+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// snmpValue reads one OID with net-snmp (v2c GET, GETNEXT of its parent,
// or GETBULK of its parent) and returns "TYPE: value".
func snmpValue(t *testing.T, s *sim, tool, oid string) string {
	t.Helper()
	args := []string{"-v2c", "-c", "public", "-Ot", "-t", "5", "-r", "1"}
	target := oid
	switch tool {
	case "snmpgetnext":
		target = strings.TrimSuffix(oid, ".0")
	case "snmpbulkget":
		args = append(args, "-Cn0", "-Cr2")
		target = strings.TrimSuffix(oid, ".0")
	}
	out, err := netsnmp(t, tool, append(args, s.agents[0].addr(), target)...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, target, err, out)
	}
	vbs := parseWalk(out)
	if len(vbs) == 0 || vbs[0].oid != oid {
		t.Fatalf("%s %s: want %s first, got\n%s", tool, target, oid, out)
	}
	return vbs[0].value
}

// TestAdminSetOnBattery puts the APC recording on battery through the
// admin endpoint and reads the change back with net-snmp GET, GETNEXT and
// GETBULK; then resets it.
func TestAdminSetOnBattery(t *testing.T) {
	s := startSim(t, "--device", "apc="+recordingPath(t, "apc_smt750x-nmc2"), "--admin", "127.0.0.1:0")
	tools := []string{"snmpget", "snmpgetnext", "snmpbulkget"}
	check := func(when, oid, want string) {
		t.Helper()
		for _, tool := range tools {
			if got := snmpValue(t, s, tool, oid); got != want {
				t.Errorf("%s, %s %s = %q, want %q", when, tool, oid, got, want)
			}
		}
	}
	check("before", upsOutputStatus, "INTEGER: 2")
	check("before", upsRuntime, "10976200")

	steps := []struct {
		name, contentType, body string
		oid, want               string
	}{
		{"form, recorded type", "application/x-www-form-urlencoded",
			url.Values{"community": {"apc"}, "oid": {upsOutputStatus}, "value": {"3"}}.Encode(), upsOutputStatus, "INTEGER: 3"},
		{"JSON, the common community, a number", "application/json",
			`{"community":"public","oid":"1.3.6.1.4.1.318.1.1.1.2.2.3.0","value":42000}`, upsRuntime, "42000"},
		{"JSON, type given (Gauge32 instead of TimeTicks)", "application/json",
			`{"community":"apc","oid":"1.3.6.1.4.1.318.1.1.1.2.2.3.0","type":"gauge32","value":"7"}`, upsRuntime, "Gauge32: 7"},
	}
	for _, st := range steps {
		code, body := post(t, s, "/set", st.contentType, st.body)
		if code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", st.name, code, body)
		}
		check(st.name, st.oid, st.want)
	}
	check("after both", upsOutputStatus, "INTEGER: 3")

	resp, err := http.Get("http://" + s.adminAddr.String() + "/values?community=apc")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]override
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := []override{{OID: upsRuntime[1:], Type: "gauge32", Value: "7"}, {OID: upsOutputStatus[1:], Type: "integer", Value: "3"}}
	if len(got["apc"]) != len(want) {
		t.Fatalf("/values: %+v, want %+v", got, want)
	}
	for i, w := range want {
		if g := got["apc"][i]; g.OID != w.OID || g.Type != w.Type || g.Value != w.Value {
			t.Errorf("/values[%d] = %+v, want %+v", i, g, w)
		}
	}

	if code, body := post(t, s, "/reset", "application/x-www-form-urlencoded", "community=apc&oid="+upsRuntime); code != http.StatusOK {
		t.Fatalf("reset one: HTTP %d %s", code, body)
	}
	check("after resetting the runtime", upsRuntime, "10976200")
	check("after resetting the runtime", upsOutputStatus, "INTEGER: 3")
	if code, body := post(t, s, "/reset", "application/x-www-form-urlencoded", "community=apc"); code != http.StatusOK {
		t.Fatalf("reset all: HTTP %d %s", code, body)
	}
	check("after reset", upsOutputStatus, "INTEGER: 2")
}

// TestAdminBadRequests: every bad request gets 400 and a message that
// says what is wrong, and changes nothing.
func TestAdminBadRequests(t *testing.T) {
	s := startSim(t, "--device", "apc="+recordingPath(t, "apc_smt750x-nmc2"), "--admin", "127.0.0.1:0")
	const form = "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, path, contentType, body, want string
	}{
		{"unknown community", "/set", form, "community=nope&oid=1.3.6.1.2.1.1.5.0&value=x", `unknown community "nope"`},
		{"no community", "/set", form, "oid=1.3.6.1.2.1.1.5.0&value=x", "missing field community"},
		{"no oid", "/set", form, "community=apc&value=x", "missing field oid"},
		{"bad oid", "/set", form, "community=apc&oid=1.3.x&value=1", `bad oid "1.3.x"`},
		{"oid not recorded, no type", "/set", form, "community=apc&oid=1.3.6.1.4.1.99999.1.0&value=1", "is not in recording apc: give its type"},
		{"integer that is not", "/set", form, "community=apc&oid=" + upsOutputStatus + "&value=onBattery", `"onBattery" is not a valid integer`},
		{"integer out of range", "/set", form, "community=apc&oid=" + upsOutputStatus + "&value=2147483648", "is not a valid integer"},
		{"negative gauge", "/set", form, "community=apc&oid=" + upsRuntime + "&type=gauge32&value=-1", "is not a valid gauge32"},
		{"unknown type", "/set", form, "community=apc&oid=" + upsOutputStatus + "&type=float&value=1", `unknown type "float"`},
		{"bad ip", "/set", form, "community=apc&oid=1.3.6.1.2.1.4.20.1.1.10.0.0.1&type=ipaddress&value=::1", "is not a valid ipaddress"},
		{"bad hex", "/set", form, "community=apc&oid=1.3.6.1.2.1.1.5.0&type=4x&value=0g", `"0g" is not a valid hexstring`},
		{"line break", "/set", form, "community=apc&oid=1.3.6.1.2.1.1.5.0&value=a%0Ab", "no line breaks"},
		{"unknown form field", "/set", form, "community=apc&oid=" + upsOutputStatus + "&vlaue=3", `unknown field "vlaue"`},
		{"bad JSON", "/set", "application/json", `{"community":"apc",`, "bad JSON body"},
		{"JSON value neither text nor number", "/set", "application/json", `{"community":"apc","oid":"1.3.6.1.2.1.1.5.0","value":[3]}`, "value must be a string or a number"},
		{"unknown JSON field", "/set", "application/json", `{"community":"apc","oid":"1.3.6.1.2.1.1.5.0","vlaue":"3"}`, "bad JSON body"},
		{"reset, no override", "/reset", form, "community=apc&oid=" + upsOutputStatus, "has no override"},
		{"reset, unknown community", "/reset", form, "community=nope", `unknown community "nope"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := post(t, s, c.path, c.contentType, c.body)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("HTTP %d %q, want 400 with %q", code, body, c.want)
			}
		})
	}
	if got := snmpValue(t, s, "snmpget", upsOutputStatus); got != "INTEGER: 2" {
		t.Errorf("after bad requests: %s = %q, want INTEGER: 2", upsOutputStatus, got)
	}
	resp, err := http.Get("http://" + s.adminAddr.String() + "/values?community=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/values of an unknown community: HTTP %d, want 400", resp.StatusCode)
	}
}

// TestAdminAddsOID: an OID that is not recorded, given with its type,
// appears in its place in a walk; with --counter-rate the counters after
// it keep their rate factor (it is chosen by the OID's place in the file).
func TestAdminAddsOID(t *testing.T) {
	a := testAgent(t, "1.3.6.1.2.1.1.1.0|4|d\n1.3.6.1.2.1.1.5.0|4|n\n1.3.6.1.2.1.2.2.1.10.1|65|100\n")
	s := &sim{agents: []*agent{a}, cfg: config{community: "public"}}
	s.initLive()
	if _, err := s.set(setRequest{Community: "t", OID: "1.3.6.1.2.1.1.3.0", Type: "timeticks", Value: "500"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.set(setRequest{Community: "t", OID: "1.3.6.1.2.1.1.5.0", Value: "renamed"}); err != nil {
		t.Fatal(err)
	}
	rec := a.current()
	wantOIDs := []string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.2.2.1.10.1"}
	wantSeq := []int{0, 3, 1, 2}
	if len(rec.entries) != len(wantOIDs) {
		t.Fatalf("%d entries, want %d", len(rec.entries), len(wantOIDs))
	}
	for i, e := range rec.entries {
		if formatOID(e.oid) != wantOIDs[i] || e.seq != wantSeq[i] {
			t.Errorf("entry %d: %s seq %d, want %s seq %d", i, formatOID(e.oid), e.seq, wantOIDs[i], wantSeq[i])
		}
	}
	if string(rec.entries[2].vb[len(rec.entries[2].vb)-7:]) != "renamed" {
		t.Errorf("sysName not replaced: % x", rec.entries[2].vb)
	}
	if len(a.rec.entries) != 3 {
		t.Errorf("the loaded recording changed: %d entries", len(a.rec.entries))
	}
}

// TestAdminFlag: --admin takes loopback addresses only.
func TestAdminFlag(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8161", true},
		{"[::1]:8161", true},
		{"localhost:8161", true},
		{"127.0.0.2:0", true},
		{"0.0.0.0:8161", false},
		{":8161", false},
		{"192.0.2.1:8161", false},
		{"example.com:8161", false},
		{"127.0.0.1", false},
	} {
		_, err := parseFlags([]string{"--device", "ups=/a", "--admin", c.addr}, io.Discard)
		if (err == nil) != c.ok {
			t.Errorf("--admin %s: err %v, want ok=%v", c.addr, err, c.ok)
		}
	}
}

// FuzzParseSet: any /set body, JSON or form, gives an override or an
// error, never a panic; an accepted value encodes to a varbind that names
// the requested OID and carries a type the agents can send.
func FuzzParseSet(f *testing.F) {
	base, err := parseRecording("t", strings.NewReader("1.3.6.1.2.1.1.5.0|4|n\n1.3.6.1.4.1.318.1.1.1.4.1.1.0|2|2\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(false, "community=t&oid=1.3.6.1.4.1.318.1.1.1.4.1.1.0&value=3")
	f.Add(false, "community=t&oid=.1.3.6.1.9.0&type=4x&value=00ff")
	f.Add(true, `{"community":"t","oid":"1.3.6.1.2.1.1.5.0","value":"x"}`)
	f.Add(true, `{"community":"t","oid":"1.3.6.1.9","type":"ipaddress","value":"10.0.0.1"}`)
	f.Add(false, "community=t&oid=1.3.6.1.9.0&type=counter64&value=18446744073709551615")
	f.Fuzz(func(t *testing.T, isJSON bool, body string) {
		ct := "application/x-www-form-urlencoded"
		if isJSON {
			ct = "application/json"
		}
		q, err := parseSetRequest(ct, []byte(body))
		if err != nil {
			return
		}
		o, err := buildOverride(base, q)
		if err != nil {
			return
		}
		tag, vbody, rest, err := readTLV(o.e.vb)
		if err != nil || tag != tagSequence || len(rest) != 0 {
			t.Fatalf("%q: varbind % x does not decode", body, o.e.vb)
		}
		otag, oc, val, err := readTLV(vbody)
		if err != nil || otag != tagOID {
			t.Fatalf("%q: varbind % x has no OID", body, o.e.vb)
		}
		oid, err := parseOID(nil, oc)
		if err != nil || formatOID(oid) != o.OID {
			t.Fatalf("%q: varbind names %v, override says %s", body, oid, o.OID)
		}
		if vtag, _, r, err := readTLV(val); err != nil || len(r) != 0 || vtag != o.e.tag || tagNames[vtag] == "" {
			t.Fatalf("%q: value % x (tag %d) does not decode", body, val, o.e.tag)
		}
	})
}

// TestAdminScope: a change reaches every agent serving the recording and
// no other: with --agents 2 both ports answer it; with --single-port only
// the community named changes.
func TestAdminScope(t *testing.T) {
	apc, sw := recordingPath(t, "apc_smt750x-nmc2"), recordingPath(t, "ios_2960x")
	const sysName = ".1.3.6.1.2.1.1.5.0"
	for _, c := range []struct {
		name      string
		args      []string
		community string   // of the /set
		changed   []string // agent communities that must answer the new name
		unchanged []string
	}{
		{"two agents, one recording", []string{"--device", "apc=" + apc, "--agents", "2"}, "apc", []string{"public", "public"}, nil},
		{"single port", []string{"--single-port", "--device", "apc=" + apc, "--device", "sw=" + sw}, "apc", []string{"apc"}, []string{"sw"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startSim(t, append(c.args, "--admin", "127.0.0.1:0")...)
			if code, body := post(t, s, "/set", "application/x-www-form-urlencoded",
				"community="+c.community+"&oid="+sysName+"&value=renamed-at-run-time"); code != http.StatusOK {
				t.Fatalf("HTTP %d %s", code, body)
			}
			get := func(k int, community string) string {
				a := s.agents[0]
				if k < len(s.agents) {
					a = s.agents[k]
				}
				out, err := netsnmp(t, "snmpget", "-v2c", "-c", community, "-t", "5", "-r", "1", a.addr(), sysName)
				if err != nil {
					t.Fatalf("snmpget -c %s %s: %v\n%s", community, a.addr(), err, out)
				}
				return out
			}
			for k, comm := range c.changed {
				if out := get(k, comm); !strings.Contains(out, `"renamed-at-run-time"`) {
					t.Errorf("agent %d, community %s: sysName not changed:\n%s", k, comm, out)
				}
			}
			for _, comm := range c.unchanged {
				if out := get(0, comm); strings.Contains(out, "renamed") {
					t.Errorf("community %s changed too:\n%s", comm, out)
				}
			}
		})
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

const endOfView = "No more variables left in this MIB View (It is past the end of the MIB tree)"

// TestNetSNMPWalksEveryRecording serves every shared recording (one agent
// each, --data-dir) and walks each whole tree with net-snmp: snmpwalk v2c
// (GETNEXT), snmpbulkwalk -Cr25 (GETBULK) and snmpwalk v1. Every OID of the
// recording must come back, in order, with its value (numbers as numbers)
// and type, and nothing else; a line whose value its type cannot carry
// (nxos_n3k-3064pq's IpAddress "<private>") must be counted as skipped by
// the simulator and left out of the walk.
func TestNetSNMPWalksEveryRecording(t *testing.T) {
	dir := testpeer.SharedTestdata(t, "snmprec")
	files, _ := filepath.Glob(filepath.Join(dir, "*.snmprec"))
	if len(files) < 20 {
		t.Fatalf("only %d recordings in %s", len(files), dir)
	}
	s := startSim(t, "--data-dir", dir)
	if len(s.agents) != len(files) {
		t.Fatalf("%d agents for %d recordings", len(s.agents), len(files))
	}
	for _, a := range s.agents {
		t.Run(a.rec.name, func(t *testing.T) {
			t.Parallel()
			ex := readExpected(t, a.rec.path)
			if a.rec.skipped != ex.skipped {
				t.Errorf("simulator skipped %d lines, the recording has %d values no agent can send", a.rec.skipped, ex.skipped)
			}
			common := []string{"-c", "public", "-Ox", "-Ot", "-t", "5", "-r", "1", a.addr(), ".1"}
			out, err := netsnmp(t, "snmpwalk", append([]string{"-v2c"}, common...)...)
			checkWalk(t, "snmpwalk -v2c", out, err, ex, false)
			out, err = netsnmp(t, "snmpbulkwalk", append([]string{"-v2c", "-Cr25"}, common...)...)
			checkWalk(t, "snmpbulkwalk -Cr25", out, err, ex, false)
			out, err = netsnmp(t, "snmpwalk", append([]string{"-v1"}, common...)...)
			checkWalk(t, "snmpwalk -v1", out, err, ex, true)
		})
	}
}

// checkWalk compares a walk with the recording. v1 walks skip Counter64
// (SNMPv1 cannot carry it) and end with "End of MIB".
func checkWalk(t *testing.T, what, out string, err error, ex expected, v1 bool) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tail(out))
	}
	vbs := parseWalk(out)
	var want []string
	for _, o := range ex.oids {
		if !(v1 && ex.tags[o] == "70") {
			want = append(want, o)
		}
	}
	if v1 {
		if !strings.HasSuffix(strings.TrimSpace(out), "End of MIB") {
			t.Errorf("%s: does not end with End of MIB:\n%s", what, tail(out))
		}
	} else {
		if len(vbs) == 0 || vbs[len(vbs)-1].value != endOfView {
			t.Fatalf("%s: does not end with endOfMibView:\n%s", what, tail(out))
		}
		vbs = vbs[:len(vbs)-1]
	}
	if len(vbs) != len(want) {
		t.Errorf("%s: %d varbinds, recording has %d", what, len(vbs), len(want))
	}
	for i := 0; i < len(vbs) && i < len(want); i++ {
		if vbs[i].oid != want[i] {
			t.Fatalf("%s: varbind %d is %s, want %s", what, i, vbs[i].oid, want[i])
		}
		if vbs[i].value != ex.values[want[i]] {
			t.Errorf("%s: %s = %q, recording says %q", what, want[i], vbs[i].value, ex.values[want[i]])
		}
	}
}

func tail(s string) string {
	if len(s) > 600 {
		return "..." + s[len(s)-600:]
	}
	return s
}

// TestNetSNMPGetErrors: snmpget of missing OIDs gives noSuchInstance (the
// object exists) or noSuchObject, v1 gives noSuchName, a wrong community
// gives no answer, and snmpbulkget honours non-repeaters/max-repetitions.
func TestNetSNMPGetErrors(t *testing.T) {
	s := startSim(t, "--device", "ups="+recordingPath(t, "apc_smt750x-nmc2"))
	addr := s.agents[0].addr()
	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "public", addr,
		".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.5.1", ".1.3.6.1.4.1.99999.1.0")
	if err != nil {
		t.Fatalf("snmpget: %v\n%s", err, out)
	}
	for _, want := range []string{
		".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.318.1.3.27",
		".1.3.6.1.2.1.1.5.1 = No Such Instance currently exists at this OID",
		".1.3.6.1.4.1.99999.1.0 = No Such Object available on this agent at this OID",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("snmpget: no %q in\n%s", want, out)
		}
	}
	out, _ = netsnmp(t, "snmpget", "-v1", "-c", "public", addr, ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.5.1")
	if !strings.Contains(out, "(noSuchName)") || !strings.Contains(out, "Failed object: .1.3.6.1.2.1.1.5.1") {
		t.Errorf("snmpget -v1 of a missing OID: want noSuchName on the 2nd OID, got\n%s", out)
	}
	out, err = netsnmp(t, "snmpget", "-v2c", "-c", "private", "-t", "0.3", "-r", "0", addr, ".1.3.6.1.2.1.1.2.0")
	if err == nil || !strings.Contains(out, "Timeout") {
		t.Errorf("wrong community: want a timeout, got err=%v\n%s", err, out)
	}
	// non-repeater sysDescr.0 → sysObjectID.0; 3 repetitions of ifIndex.
	out, err = netsnmp(t, "snmpbulkget", "-v2c", "-c", "public", "-Cn1", "-Cr3", addr,
		".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.2.2.1.1")
	if err != nil {
		t.Fatalf("snmpbulkget: %v\n%s", err, out)
	}
	vbs := parseWalk(out)
	wantOIDs := []string{".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.2.2.1.1.1", ".1.3.6.1.2.1.2.2.1.1.2", ".1.3.6.1.2.1.2.2.1.2.1"}
	if len(vbs) != len(wantOIDs) {
		t.Fatalf("snmpbulkget: %d varbinds, want %d:\n%s", len(vbs), len(wantOIDs), out)
	}
	for i, w := range wantOIDs {
		if vbs[i].oid != w {
			t.Errorf("snmpbulkget varbind %d: %s, want %s", i, vbs[i].oid, w)
		}
	}
}

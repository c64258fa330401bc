package snmp

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// draftPDUs reads snmprec-style lines (oid|tag|value) as the PDUs a walk
// would return: the fuzzer's way to make a device say anything.
func draftPDUs(data string) []gosnmp.SnmpPDU {
	var out []gosnmp.SnmpPDU
	for _, l := range strings.Split(data, "\n") {
		parts := strings.SplitN(l, "|", 3)
		if len(parts) != 3 {
			continue
		}
		p := gosnmp.SnmpPDU{Name: "." + parts[0]}
		switch parts[1] {
		case "2":
			n, _ := strconv.Atoi(parts[2])
			p.Type, p.Value = gosnmp.Integer, n
		case "65", "66":
			n, _ := strconv.ParseUint(parts[2], 10, 32)
			p.Type, p.Value = gosnmp.Counter32, uint(n)
			if parts[1] == "66" {
				p.Type = gosnmp.Gauge32
			}
		case "70":
			n, _ := strconv.ParseUint(parts[2], 10, 64)
			p.Type, p.Value = gosnmp.Counter64, n
		case "6":
			p.Type, p.Value = gosnmp.ObjectIdentifier, parts[2]
		case "64":
			p.Type, p.Value = gosnmp.IPAddress, parts[2]
		default:
			p.Type, p.Value = gosnmp.OctetString, []byte(parts[2])
		}
		out = append(out, p)
	}
	return out
}

// FuzzBuildDraft: whatever a device answers (any OIDs, types, text), the
// draft is YAML that decodes strictly, and the only problems ParseProfile
// finds in it are the ones a person is meant to fix (FIXME names and MIB)
// or that there is nothing to read.
func FuzzBuildDraft(f *testing.F) {
	for _, rec := range []string{"hwg-wld_wld2", "sensatronics-em1", "serverscheck"} {
		b, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(f, "snmprec"), rec+".snmprec"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "1.3.6.1.4.1")
	}
	f.Add("1.3.6.1.4.1.9.1.0|4|a\n1.3.6.1.4.1.9.2.1.1|2|7\n1.3.6.1.4.1.9.2.1.1|2|8\n1.3.6.1.4.1.9|4|\x00\xff#: x\n", "1.3.6.1.4.1.9")
	f.Fuzz(func(t *testing.T, data, subtree string) {
		var objs []Walked
		for _, p := range draftPDUs(data) {
			if w, ok := walkedOf(p); ok {
				objs = append(objs, w)
			}
		}
		draft := BuildDraft(DraftInput{Address: "127.0.0.1:161\n", SysDescr: data[:min(len(data), 80)], SysObjectID: subtree, Subtree: subtree, Objects: objs})
		_, err := ParseProfile(draft, "draft.yaml")
		all, ok := err.(*config.Errors)
		if !ok {
			t.Fatalf("draft refused with %v:\n%s", err, draft)
		}
		for _, e := range all.List {
			if !strings.Contains(e.Msg, "still a draft") && e.Msg != "no metrics" {
				t.Fatalf("draft has a problem a person did not make: %v\n%s", e, draft)
			}
		}
	})
}

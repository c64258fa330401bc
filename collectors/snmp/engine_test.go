package snmp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/model"
)

func pdu(oid string, t gosnmp.Asn1BER, v any) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: "." + oid, Type: t, Value: v}
}

func mustProfile(t *testing.T, y string) *Profile {
	t.Helper()
	p, err := ParseProfile([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run evaluates profiles against varbinds given in any order (as a buggy
// agent or a merged walk may return them) and renders the samples.
func run(t *testing.T, ps []*Profile, pdus ...gosnmp.SnmpPDU) string {
	t.Helper()
	v := newView()
	pl := newPlan(ps)
	scalar := map[string]bool{}
	for _, g := range pl.gets {
		scalar[g] = true
	}
	for _, p := range pdus {
		v.add(p, !scalar[trimOID(p.Name)])
	}
	v.finish()
	var out []model.Sample
	evaluate(ps, v, nil, func(s model.Sample) { out = append(out, s) })
	var b bytes.Buffer
	_ = WriteProm(&b, out)
	return strings.TrimSpace(b.String())
}

const header = "name: t\nmib: TEST-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n"

func TestValueDecoding(t *testing.T) {
	tests := []struct {
		name   string
		metric string
		pdus   []gosnmp.SnmpPDU
		want   string
	}{
		{"integer", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Integer, 42)}, "m 42"},
		{"sentinel gives no sample", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, sentinels: [65535]}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Integer, 65535)}, ""},
		{"tenths", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, scale: 0.1}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Gauge32, uint(2345))}, "m 234.5"},
		{"string number", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte(" 23.5 C"))}, "m 23.5"},
		{"decimal comma", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte("23,5"))}, "m 23.5"},
		{"hex string", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte("0x1A"))}, "m 26"},
		{"not a number", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte("N/A"))}, ""},
		{"binary is not a number", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte{0, 1, 0xff})}, ""},
		{"noSuchInstance", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.NoSuchInstance, nil)}, ""},
		{"enum", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, map: {"3": 1, "2": 0}}`,
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Integer, 3)}, "m 1"},
		{"enum unknown value", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, map: {"3": 1, "2": 0}}`,
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Integer, 1)}, ""},
		{"string enum any case", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, map: {OK: 1, Fault: 0}}`,
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.OctetString, []byte("fault"))}, "m 0"},
		{"bit", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, bit: 7}`,
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Gauge32, uint(128+6))}, "m 1"},
		{"mask then map", `  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, mask: 3, map: {"1": 1, "2": 0}}`,
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Gauge32, uint(6))}, "m 0"},
		{"counter64", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Counter64, uint64(1)<<40)}, "m 1099511627776"},
		{"fahrenheit rounded", "  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, scale: 0.5555555555555556, offset: -17.77777777777778, round: 1}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.1.0", gosnmp.Integer, 81)}, "m 27.2"},
		{"table with a hole and rows out of order", "  - {name: m, walk: 1.3.6.1.4.1.99999.2.1.3, labels: {sensor: {column: 1.3.6.1.4.1.99999.2.1.2}}}",
			[]gosnmp.SnmpPDU{
				pdu("1.3.6.1.4.1.99999.2.1.3.10", gosnmp.Integer, 30),
				pdu("1.3.6.1.4.1.99999.2.1.2.2", gosnmp.OctetString, []byte("b")),
				pdu("1.3.6.1.4.1.99999.2.1.3.2", gosnmp.Integer, 20),
				pdu("1.3.6.1.4.1.99999.2.1.2.1", gosnmp.OctetString, []byte("a")),
			}, "m{sensor=\"10\"} 30\nm{sensor=\"b\"} 20"},
		{"where and ratio", "  - {name: m, walk: 1.3.6.1.4.1.99999.3.1.6, divide_by: 1.3.6.1.4.1.99999.3.1.5, where: [{column: 1.3.6.1.4.1.99999.3.1.2, in: [\"4\"]}], labels: {mp: {column: 1.3.6.1.4.1.99999.3.1.3}}}",
			[]gosnmp.SnmpPDU{
				pdu("1.3.6.1.4.1.99999.3.1.2.1", gosnmp.Integer, 4), pdu("1.3.6.1.4.1.99999.3.1.2.2", gosnmp.Integer, 2),
				pdu("1.3.6.1.4.1.99999.3.1.3.1", gosnmp.OctetString, []byte("/")), pdu("1.3.6.1.4.1.99999.3.1.3.2", gosnmp.OctetString, []byte("RAM")),
				pdu("1.3.6.1.4.1.99999.3.1.5.1", gosnmp.Integer, 200), pdu("1.3.6.1.4.1.99999.3.1.5.2", gosnmp.Integer, 100),
				pdu("1.3.6.1.4.1.99999.3.1.6.1", gosnmp.Integer, 50), pdu("1.3.6.1.4.1.99999.3.1.6.2", gosnmp.Integer, 99),
			}, "m{mp=\"/\"} 0.25"},
		{"entity sensor scaling", "  - {name: m, walk: 1.3.6.1.4.1.99999.4.4, entity_scale_column: 1.3.6.1.4.1.99999.4.2, precision_column: 1.3.6.1.4.1.99999.4.3}",
			[]gosnmp.SnmpPDU{
				pdu("1.3.6.1.4.1.99999.4.2.1", gosnmp.Integer, 8), pdu("1.3.6.1.4.1.99999.4.3.1", gosnmp.Integer, 1),
				pdu("1.3.6.1.4.1.99999.4.4.1", gosnmp.Integer, 23456),
			}, "m 2.3456"},
		{"aggregate any over an empty table", "  - {name: m, walk: 1.3.6.1.4.1.99999.5.2, aggregate: any}",
			nil, "m 0"},
		{"index string and index part", "  - {name: m, walk: 1.3.6.1.4.1.99999.6, labels: {n: {index_string: true}}}",
			[]gosnmp.SnmpPDU{pdu("1.3.6.1.4.1.99999.6.4.68.97.116.97", gosnmp.Integer, 1)}, "m{n=\"Data\"} 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProfile(t, header+tc.metric+"\n")
			if got := run(t, []*Profile{p}, tc.pdus...); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestOverridesDropOnlyNamesTheVendorEmits(t *testing.T) {
	std := mustProfile(t, "name: std\nmib: X\nmatch: {subtrees: [1.1]}\nmetrics:\n  - {name: load, oid: 1.1.1.0}\n  - {name: temp, oid: 1.1.2.0}\n")
	vendor := mustProfile(t, "name: vendor\nmib: Y\nmatch: {subtrees: [1.2]}\noverrides: [std]\nmetrics:\n  - {name: load, oid: 1.2.1.0, scale: 0.1, labels: {x: {value: v}}}\n  - {name: temp, oid: 1.2.2.0}\n")
	got := run(t, []*Profile{std, vendor},
		pdu("1.1.1.0", gosnmp.Integer, 50), pdu("1.1.2.0", gosnmp.Integer, 30),
		pdu("1.2.1.0", gosnmp.Integer, 505), pdu("1.2.2.0", gosnmp.NoSuchObject, nil))
	want := "load{x=\"v\"} 50.5\ntemp 30"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMatchProfiles(t *testing.T) {
	ups := mustProfile(t, "name: ups\nmib: X\nmatch: {sysobjectid: [1.3.6.1.2.1.33], subtrees: [1.3.6.1.2.1.33.1]}\nmetrics: [{name: m, oid: 1.1}]\n")
	gen := mustProfile(t, "name: gen\nmib: X\nmatch: {subtrees: [1.3.6.1.4.1.41809.1]}\nmetrics: [{name: m, oid: 1.1}]\n")
	tests := []struct {
		name     string
		sysOID   string
		answered []string
		want     string
	}{
		{"by sysObjectID prefix", "1.3.6.1.2.1.33.7", nil, "ups"},
		{"prefix must end at a dot", "1.3.6.1.2.1.330", nil, ""},
		{"missing sysObjectID, subtree answers", "", []string{"1.3.6.1.4.1.41809.1"}, "gen"},
		{"wrong sysObjectID (.0.0), subtrees answer", "0.0", []string{"1.3.6.1.4.1.41809.1", "1.3.6.1.2.1.33.1"}, "gen,ups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans := func(s string) bool { return contains(tc.answered, s) }
			got := strings.Join(names(matchProfiles([]*Profile{ups, gen}, tc.sysOID, ans)), ",")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseProfileErrors(t *testing.T) {
	tests := []struct{ name, y, want string }{
		{"unknown key", header + "  - {name: m, oid: 1.1, scaal: 2}\n", "scaal"},
		{"oid and walk", header + "  - {name: m, oid: 1.1, walk: 1.2}\n", "exactly one of oid"},
		{"not numeric", header + "  - {name: m, oid: ifDescr}\n", "not a numeric OID"},
		{"reserved label", header + "  - {name: m, walk: 1.1, labels: {target: {index: true}}}\n", "cannot be a label name"},
		{"bad regexp", header + "  - {name: m, walk: 1.1, index_match: '('}\n", "index_match"},
		{"no mib", "name: t\nmatch: {subtrees: [1.1]}\nmetrics: [{name: m, oid: 1.1}]\n", "mib"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile([]byte(tc.y), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEmbeddedProfilesCoverTheIssueTable(t *testing.T) {
	want := []string{"ups-mib", "apc-ups", "apc-ats", "apc-ems", "apc-netbotz", "apc-rpdu", "eaton-xups", "liebert-pdu",
		"cyberpower-ups", "himoinsa", "if-mib", "entity-sensor", "cisco-envmon", "juniper", "ucd-snmp",
		"host-resources", "akcp", "avtech-roomalert", "hwgroup", "nti-enviromux", "raritan-pdu2", "sentry4", "synology"}
	for _, n := range want {
		p := EmbeddedProfiles().ByName(n)
		if p == nil {
			t.Errorf("profile %s is missing", n)
			continue
		}
		if p.MIB == "" || p.Description == "" {
			t.Errorf("profile %s does not document its MIB and what it emits", n)
		}
	}
}

func TestCompareOID(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.3.6.1.2", "1.3.6.1.10", -1}, {".1.3.6", "1.3.6", 0}, {"1.3.6.1", "1.3.6", 1}, {"1.3.7", "1.3.6.1", 1},
	}
	for _, tc := range tests {
		if got := compareOID(tc.a, tc.b); got != tc.want {
			t.Errorf("compareOID(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLoadProfiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mine.yaml", "name: ups-mib\nmib: MY-UPS-MIB\nmatch: {subtrees: [1.3.6.1.2.1.33.1]}\nmetrics: [{name: ups_on_battery, oid: 1.3.6.1.2.1.33.1.4.1.0}]\n")
	set, err := LoadProfiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if p := set.ByName("ups-mib"); p == nil || p.MIB != "MY-UPS-MIB" || p.Source != filepath.Join(dir, "mine.yaml") {
		t.Errorf("the user profile did not replace the embedded one: %+v", p)
	}
	if set.ByName("apc-ups") == nil {
		t.Error("embedded profiles were lost")
	}
	if p := EmbeddedProfiles().ByName("ups-mib"); p == nil || p.Source != "embedded" {
		t.Errorf("loading a set changed the embedded one: %+v", p)
	}
	write("broken.yaml", "name: x\nmib: X\nmatch: {subtrees: [1.1]}\nmetrics: [{name: m, oid: 1.1, bogus: 1}]\n")
	if _, err := LoadProfiles([]string{dir}); err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("err = %v, want it to name broken.yaml", err)
	}
	if p := set.ByName("ups-mib"); p == nil || p.MIB != "MY-UPS-MIB" {
		t.Error("a failed load changed a set already built")
	}
}

// A scaled value loses its float noise; a counter stays the exact integer
// the device sent (it became 1802190559312.9998: issue 12, "never a wrong
// number").
func TestDenoise(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{234 * 0.1, 23.4},
		{2313 * 0.1, 231.3},
		{1.0 / 3, 0.333333333},
		{20070853180, 20070853180},
		{1802190559313, 1802190559313},
		{3139103631889219, 3139103631889219},
		{1234567.891234567891, 1234567.89123457},
		{-40.5, -40.5},
	} {
		if got := denoise(c.in); got != c.want {
			t.Errorf("denoise(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

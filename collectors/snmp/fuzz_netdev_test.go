package snmp

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"
)

// TestUnsigned32 is the table of the label option unsigned: 4-byte AS
// numbers sent in an Integer32 come back unsigned; what is no 32-bit whole
// number stays as it was.
func TestUnsigned32(t *testing.T) {
	for in, want := range map[string]string{
		"-94967296":   "4200000000", // FRR on pfSense: AS 4200000000
		"-94967292":   "4200000004",
		"-1":          "4294967295",
		"-2147483648": "2147483648",
		"65534":       "65534",
		"0":           "0",
		"4294967295":  "4294967295",
		"4294967296":  "4294967296", // out of 32 bits: unchanged
		"-2147483649": "-2147483649",
		"7714.5":      "7714.5",
		"AS7714":      "AS7714",
		"":            "",
		" 64500 ":     "64500",
	} {
		if got := unsigned32(in); got != want {
			t.Errorf("unsigned32(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNetdevLabels feeds arbitrary agent text to the label options of
// labels.go (unsigned; row by index part and by another column's value):
// no panic, and an unsigned label is the text unchanged or the same number
// modulo 2^32.
func FuzzNetdevLabels(f *testing.F) {
	for _, s := range [][3]string{
		{"10.255.0.49", "-94967296", "100"},
		{"7.10", "65534", "0"},
		{"1.0", "", "1.3.6"},
		{"", "4294967296", "-1"},
		{"..", "x", ".."},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const col, rowCol, name = "1.1", "1.2", "1.3"
	pu := func() Metric {
		p, err := ParseProfile([]byte(`name: f
mib: F
match: {subtrees: [1]}
metrics:
  - name: m
    walk: 1.9
    labels:
      as: {column: `+col+`, unsigned: true}
      part: {column: `+name+`, row: {index_part: 2}, default: none}
      named: {column: `+name+`, row: {column: [`+rowCol+`]}}
      idx: {index_part: 1, unsigned: true}
`), "fuzz.yaml")
		if err != nil {
			f.Fatal(err)
		}
		return p.Metrics[0]
	}
	m := pu()
	f.Fuzz(func(t *testing.T, idx, val, row string) {
		if !oidRE.MatchString(idx) {
			return // a walked row always has an index
		}
		v := newView()
		str := func(oid, s string) {
			v.add(gosnmp.SnmpPDU{Name: oid, Type: gosnmp.OctetString, Value: []byte(s)}, true)
		}
		str(col+"."+idx, val)
		str(rowCol+"."+idx, row)
		str(name+"."+row, val)
		v.finish()
		ls, ok := m.labels(v, idx)
		if !ok {
			return
		}
		as := ls.Get("as")
		want := v.text(v.find(col, idx))
		if as != want && want != "" {
			n, err1 := strconv.ParseInt(want, 10, 64)
			u, err2 := strconv.ParseUint(as, 10, 32)
			if err1 != nil || err2 != nil || uint64(uint32(n)) != u {
				t.Fatalf("unsigned label of %q is %q", val, as)
			}
		}
	})
}

// TestNetdevProfileOptionsChecked: the options of labels.go are checked
// when a profile is loaded, with the profile, metric and label named.
func TestNetdevProfileOptionsChecked(t *testing.T) {
	for _, c := range []struct{ metric, want string }{
		{`{name: m, oid: 1.2.0, labels: {x: {column: 1.3, row: {index_part: 1}}}}`, "label x: row needs walk"},
		{`{name: m, walk: 1.2, labels: {x: {index: true, row: {index_part: 1}}}}`, "label x: row needs exactly one column"},
		{`{name: m, walk: 1.2, labels: {x: {column: 1.3, row: {}}}}`, "label x: row: give exactly one of index_part and column"},
		{`{name: m, walk: 1.2, labels: {x: {column: 1.3, row: {index_part: 1, column: 1.4}}}}`, "give exactly one of index_part and column"},
		{`{name: m, walk: 1.2, labels: {x: {column: 1.3, row: {column: [1.x]}}}}`, `row.column: "1.x" is not a numeric OID`},
		{`{name: m, walk: 1.2, labels: {x: {value: a, unsigned: true}}}`, "label x: unsigned needs a number"},
		{`{name: m, walk: 1.2, nonzero: true, map: {"1": 1}}`, "nonzero makes no sense with map"},
	} {
		_, err := ParseProfile([]byte("name: p\nmib: M\nmatch: {subtrees: [1]}\nmetrics:\n  - "+c.metric+"\n"), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:5: metrics[0]") {
			t.Errorf("%s: error %v, want one naming p.yaml:5, metrics[0] and %q", c.metric, err, c.want)
		}
	}
	if _, err := ParseProfile([]byte(`name: p
mib: M
match: {subtrees: [1]}
metrics:
  - {name: m, walk: 1.2, nonzero: true, labels: {x: {column: 1.3, row: {column: [1.4, 1.5]}}, y: {index_part: 1, unsigned: true}}}
`), "p.yaml"); err != nil {
		t.Errorf("a good profile is refused: %v", err)
	}
}

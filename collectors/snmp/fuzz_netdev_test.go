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
		want := strings.TrimSpace(text(v.vals[col+"."+idx]))
		if as != want && want != "" {
			n, err1 := strconv.ParseInt(want, 10, 64)
			u, err2 := strconv.ParseUint(as, 10, 32)
			if err1 != nil || err2 != nil || uint64(uint32(n)) != u {
				t.Fatalf("unsigned label of %q is %q", val, as)
			}
		}
	})
}

package snmp

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"
)

// TestProfileCheckErrors: what `vedetta profile check` says about broken
// profiles, compared with reviewed golden files
// (testdata/profilecheck/<case>.golden; -update rewrites them). Every
// problem of a file at once, each with file:line and field.
func TestProfileCheckErrors(t *testing.T) {
	const head = "name: acme\nmib: ACME-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n"
	tests := []struct {
		name, yaml string
		want       []string // substrings of the output, besides the golden file
	}{
		{"unknown_key", head + "  - name: sensor_temperature_celsius\n    walk: 1.3.6.1.4.1.99999.1.3\n    scael: 0.1\n",
			[]string{`acme.yaml:7: metrics[0].scael: unknown field "scael" (did you mean "scale"?)`}},
		{"unknown_top_key", "name: acme\nmib: ACME-MIB\nmatchs: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics: [{name: m, oid: 1.3.6.1.4.1.99999.1.0}]\n",
			[]string{`acme.yaml:3: matchs: unknown field "matchs" (did you mean "match"?)`, "acme.yaml: match: needs sysobjectid or subtrees"}},
		{"bad_oid", head + "  - name: sensor_temperature_celsius\n    walk: acmeTemp\n    labels:\n      sensor: {column: 1.3.6.1.4.1.99999.1.x}\n",
			[]string{`acme.yaml:6: metrics[0].walk: "acmeTemp" is not a numeric OID`, `acme.yaml:8: metrics[0].labels.sensor.column: "1.3.6.1.4.1.99999.1.x" is not a numeric OID`}},
		{"bad_type", head + "  - name: sensor_temperature_celsius\n    walk: 1.3.6.1.4.1.99999.1.3\n    scale: tenth\n    round: 1.5\n    labels: [sensor]\n",
			[]string{`acme.yaml:7: metrics[0].scale: expected a number, got "tenth"`, `acme.yaml:8: metrics[0].round: expected a whole number, got "1.5"`,
				"acme.yaml:9: metrics[0].labels: expected a mapping, got a list"}},
		{"duplicate_metric", head + "  - {name: ups_on_battery, oid: 1.3.6.1.4.1.99999.1.0, map: {\"2\": 1}}\n  - {name: ups_battery_charge_percent, oid: 1.3.6.1.4.1.99999.2.0}\n  - {name: ups_on_battery, oid: 1.3.6.1.4.1.99999.1.0, map: {\"3\": 1}}\n",
			[]string{"acme.yaml:7: metrics[2]: duplicate metric: ups_on_battery reads 1.3.6.1.4.1.99999.1.0 as metrics[0] does (line 5)"}},
		{"duplicate_key", head + "  - name: ups_on_battery\n    oid: 1.3.6.1.4.1.99999.1.0\n    oid: 1.3.6.1.4.1.99999.2.0\n",
			[]string{"acme.yaml:7: metrics[0].oid: given twice (first on line 6)"}},
		{"missing_required", "name: acme\nmetrics:\n  - {name: sensor_temperature_celsius}\n",
			[]string{"acme.yaml: match: needs sysobjectid or subtrees", "acme.yaml: mib: say which MIB", "acme.yaml:3: metrics[0]: give exactly one of oid (scalar) and walk (table column)"}},
		{"draft_left", "name: acme\nmib: FIXME the MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: FIXME_acme_1_3, walk: 1.3.6.1.4.1.99999.1.3}\n",
			[]string{"acme.yaml:2: mib: still a draft", `acme.yaml:5: metrics[0].name: "FIXME_acme_1_3" is still a draft name`}},
		{"several_at_once", "name: Acme PDU\nmib: ACME-MIB\nclass: pdu\nmatch:\n  sysobjectid: [enterprises.99999]\nmetrics:\n" +
			"  - name: pdu_current_amperes\n    walk: 1.3.6.1.4.1.99999.1.3\n    scale: 0.1\n    agregate: sum\n" +
			"  - name: pdu-power\n    oid: 1.3.6.1.4.1.99999.2.0\n    walk: 1.3.6.1.4.1.99999.2\n" +
			"  - name: pdu_outlet_on\n    walk: 1.3.6.1.4.1.99999.3.4\n    labels:\n      target: {index: true}\n      outlet: {column: 1.3.6.1.4.1.99999.3.2, index: true}\n    aggregate: avg\n",
			[]string{`acme.yaml:1: name: "Acme PDU"`, `acme.yaml:5: match.sysobjectid[0]: "enterprises.99999" is not a numeric OID`,
				`acme.yaml:10: metrics[0].agregate: unknown field "agregate" (did you mean "aggregate"?)`,
				"acme.yaml:11: metrics[1].name: bad metric name", "acme.yaml:11: metrics[1]: give exactly one of oid",
				"acme.yaml:18: metrics[2].labels.outlet: label outlet: give exactly one of index", "acme.yaml:17: metrics[2].labels.target",
				`acme.yaml:19: metrics[2].aggregate: want count, any, sum, max or min, got "avg"`}},
		{"not_yaml", "name: acme\nmetrics:\n  - {name: m, oid: 1.1\n", []string{"acme.yaml:2: not valid YAML"}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, "acme.yaml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			rs := CheckProfiles([]string{f})
			if len(rs) != 1 || rs[0].Err == nil {
				t.Fatalf("a broken profile passes the check: %+v", rs)
			}
			got := strings.ReplaceAll(rs[0].Err.Error(), dir+string(filepath.Separator), "") + "\n"
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			golden := filepath.Join("testdata", "profilecheck", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update, then review the file)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// Numbers as YAML writes them: hex, octal and underscores are integers
// (sentinels: [0x7FFF]), as the profiles decoded before the strict decoder
// took them.
func TestProfileHexNumbers(t *testing.T) {
	p, err := ParseProfile([]byte(header+"  - {name: m, oid: 1.3.6.1.4.1.99999.1.0, sentinels: [0x7FFF, 0o17, 65_535], mask: 0xFF, bit: 0x1}\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := p.Metrics[0]
	if len(m.Sentinels) != 3 || m.Sentinels[0] != 0x7FFF || m.Sentinels[1] != 15 || m.Sentinels[2] != 65535 || m.Mask != 0xFF || m.Bit == nil || *m.Bit != 1 {
		t.Errorf("decoded %v, mask %v, bit %v", m.Sentinels, m.Mask, m.Bit)
	}
	p, err = ParseProfile([]byte(header+"  - {name: m, walk: 1.3.6.1.4.1.99999.1, map: {\"0x1\": 0x2}, labels: {x: {value: 0x10}, y: {index_part: 0x1}}}\n"), "a.yaml")
	if err != nil {
		t.Fatalf("hex in map and labels: %v", err)
	}
	if p, err := ParseProfile([]byte(header+"  - {name: m, walk: 1.3.6.1.4.1.99999.1, nonzero: yes, labels: {x: {index: on}, y: {value: yes}}}\n"), "a.yaml"); err != nil ||
		!p.Metrics[0].NonZero || !p.Metrics[0].Labels["x"].Index || p.Metrics[0].Labels["y"].Value != "yes" {
		t.Errorf("YAML 1.1 bools: %v %+v", err, p)
	}
	m = p.Metrics[0]
	if m.Map["0x1"] != 2 || m.Labels["x"].Value != "0x10" || m.Labels["y"].IndexPart != 1 {
		t.Errorf("map %v, labels %+v: a number field read in decimal, text kept as written", m.Map, m.Labels)
	}
}

// TestProfileCheckEmbedded: every embedded profile passes the check, and
// a good user profile does, with notes for what it may not mean.
func TestProfileCheckEmbedded(t *testing.T) {
	files, err := filepath.Glob("profiles/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded profiles: %v", err)
	}
	for _, r := range CheckProfiles(files) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.File, r.Err)
		}
	}
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	body := "name: acme\nmib: ACME-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: acme_widgets, oid: 1.3.6.1.4.1.99999.1.0}\n"
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rs := CheckProfiles([]string{a, b})
	if rs[0].Err != nil || len(rs[0].Notes) != 1 || !strings.Contains(rs[0].Notes[0], "a.yaml:5: metrics[0].name: acme_widgets has no plausibility range") {
		t.Errorf("a good profile: %v, notes %q", rs[0].Err, rs[0].Notes)
	}
	if rs[1].Err == nil || !strings.Contains(rs[1].Err.Error(), `b.yaml:1: name: profile "acme" is also defined in `+a) {
		t.Errorf("two files, one profile: %v", rs[1].Err)
	}
}

// The help: of a profile's metric is its HELP on /metrics, on one line;
// a metric no profile documents has none (the API says "Collected by
// vedetta.").
func TestProfileSetHelp(t *testing.T) {
	dir := t.TempDir()
	body := "name: acme\nmib: ACME-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n" +
		"  - name: acme_widgets\n    oid: 1.3.6.1.4.1.99999.1.0\n    help: >\n      widgets in stock,\n      from acmeWidgets\n" +
		"  - {name: acme_widgets, oid: 1.3.6.1.4.1.99999.2.0, help: the second says otherwise}\n" +
		"  - {name: ups_battery_charge_percent, oid: 1.3.6.1.4.1.99999.3.0, help: \"charge, as this site's UPS says it\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadProfiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Help("acme_widgets"); got != "widgets in stock, from acmeWidgets" {
		t.Errorf("Help = %q", got)
	}
	if EmbeddedProfiles().Help("ups_battery_charge_percent") == "" {
		t.Fatal("no embedded profile documents ups_battery_charge_percent: pick another metric for this test")
	}
	if got := set.Help("ups_battery_charge_percent"); got != "charge, as this site's UPS says it" {
		t.Errorf("a user profile's help does not come first: %q", got)
	}
	if got := set.Help("acme_gadgets"); got != "" {
		t.Errorf("an undocumented metric has help %q", got)
	}
	if _, err := LoadProfiles([]string{filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a profile folder that is not there: %v", err)
	}
}

// TestReadmeDocumentsEveryProfileKey: every key a profile may hold has a
// row in README.md's "Profile keys (reference)" table, so that a person
// writing a profile finds each one documented.
func TestReadmeDocumentsEveryProfileKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(readme), "### Profile keys (reference)")
	if !ok {
		t.Fatal("README.md has no Profile keys (reference) section")
	}
	ref, _, _ = strings.Cut(ref, "\n#")
	var keys []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			keys = append(keys, p)
			ft := f.Type
			switch ft.Kind() {
			case reflect.Slice:
				walk(ft.Elem(), p+"[]")
			case reflect.Map:
				walk(ft.Elem(), p+".NAME")
			default:
				walk(ft, p)
			}
		}
	}
	walk(reflect.TypeOf(Profile{}), "")
	if len(keys) < 40 {
		t.Fatalf("only %d keys found: the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(ref, "| `"+k+"` |") {
			t.Errorf("README.md's profile key reference lacks `%s`", k)
		}
	}
}

// probe snmp shows what an enum read and what it became, and says when a
// value is in no map entry (no sample, by the profile's design, and not
// counted as implausible).
func TestExplainEnums(t *testing.T) {
	p := mustProfile(t, header+"  - {name: ups_on_battery, walk: 1.3.6.1.4.1.99999.1, map: {\"2\": 0, \"3\": 1}}\n")
	g := newGuard("t", nil, nil)
	var got []string
	g.explain = func(e Explained) { got = append(got, e.String()) }
	out := runWith(t, g, []*Profile{p},
		pdu("1.3.6.1.4.1.99999.1.1", gosnmp.Integer, 3), pdu("1.3.6.1.4.1.99999.1.2", gosnmp.Integer, 7))
	if out != `ups_on_battery 1` {
		t.Errorf("samples: %q", out)
	}
	want := []string{
		`ups_on_battery[1] raw "3" -> 1 (map/bit/mask; scale 1; range [0, 1]): exported`,
		`ups_on_battery[2] raw "7": in no map entry: no sample`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("explained:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := g.counts[[2]string{"ups_on_battery", ReasonSentinel}] + g.counts[[2]string{"ups_on_battery", ReasonOutOfRange}]; n != 0 {
		t.Errorf("a value in no map entry was counted as implausible: %v", g.counts)
	}
}

// Only a true duplicate (the same series, read the same way) is refused:
// bits of one status word, or rows kept by where, are separate metrics.
func TestDuplicateMetricNeedsTheSameSeries(t *testing.T) {
	for _, tc := range []struct {
		name, metrics string
		dup           bool
	}{
		{"bits of one word", "  - {name: generator_alarm, oid: 1.3.6.1.4.1.99999.1.0, bit: 0, labels: {alarm: {value: fuel}}}\n" +
			"  - {name: generator_alarm, oid: 1.3.6.1.4.1.99999.1.0, bit: 1, labels: {alarm: {value: oil}}}\n", false},
		{"same bit, other label", "  - {name: generator_alarm, oid: 1.3.6.1.4.1.99999.1.0, bit: 0, labels: {alarm: {value: fuel}}}\n" +
			"  - {name: generator_alarm, oid: 1.3.6.1.4.1.99999.1.0, bit: 0, labels: {alarm: {value: oil}}}\n", false},
		{"rows filtered", "  - {name: m, walk: 1.3.6.1.4.1.99999.2, where: [{column: 1.3.6.1.4.1.99999.3, in: [\"1\"]}]}\n" +
			"  - {name: m, walk: 1.3.6.1.4.1.99999.2, where: [{column: 1.3.6.1.4.1.99999.3, in: [\"2\"]}], scale: 0.1}\n", false},
		{"copy-paste", "  - {name: m, walk: 1.3.6.1.4.1.99999.2, labels: {sensor: {index: true}}}\n" +
			"  - {name: m, walk: 1.3.6.1.4.1.99999.2, labels: {sensor: {index: true}}, scale: 0.1}\n", true},
	} {
		_, err := ParseProfile([]byte(header+tc.metrics), "d.yaml")
		if got := err != nil && strings.Contains(err.Error(), "duplicate metric"); got != tc.dup {
			t.Errorf("%s: duplicate = %v, want %v (%v)", tc.name, got, tc.dup, err)
		}
	}
}

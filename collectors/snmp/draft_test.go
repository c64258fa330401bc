package snmp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// withoutReaders is the embedded set minus the profiles that read
// anything under subtree: the device then holds data "no profile reads"
// whatever profiles are added to the repository later.
func withoutReaders(subtree string) *ProfileSet {
	var keep []*Profile
	for _, p := range EmbeddedProfiles().All() {
		r := profileReads(newProfileSet([]*Profile{p}))
		reads := false
		for o := range r.exact {
			if strings.HasPrefix(o+".", subtree+".") {
				reads = true
			}
		}
		for _, pre := range r.prefixes {
			if strings.HasPrefix(pre, subtree+".") {
				reads = true
			}
		}
		if !reads {
			keep = append(keep, p)
		}
	}
	return newProfileSet(keep)
}

// finishDraft does what a person does with a draft: names the metrics it
// wants (wanted: draft name -> name), deletes the others, renames the
// label, says which MIB it is.
func finishDraft(t *testing.T, draft []byte, mib string, wanted map[string]string, label string) []byte {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(draft, &root); err != nil {
		t.Fatalf("the draft is not YAML: %v\n%s", err, draft)
	}
	doc := root.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		switch k.Value {
		case "mib":
			v.Value = mib
		case "description":
			v.Value = "finished by a test"
		case "metrics":
			var kept []*yaml.Node
			for _, m := range v.Content {
				for j := 0; j+1 < len(m.Content); j += 2 {
					if m.Content[j].Value == "name" {
						if n, ok := wanted[m.Content[j+1].Value]; ok {
							m.Content[j+1].Value = n
							kept = append(kept, m)
						}
					}
					if m.Content[j].Value == "labels" && label != "" {
						m.Content[j+1].Content[0].Value = label
					}
				}
			}
			v.Content = kept
		}
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProfileDraftEndToEnd: a draft against a recording served by a real
// snmpsimd (HW group WLD2: a wldTable no profile of the set reads), its
// report and skeleton (golden: testdata/draft/hwg-wld_wld2.yaml), then the
// draft finished the way a person would, checked, loaded as a user
// profile and polled: the values are the recording's.
func TestProfileDraftEndToEnd(t *testing.T) {
	const rec, ent = "hwg-wld_wld2", "1.3.6.1.4.1.21796"
	addr, _ := startSimd(t, "", rec)
	zero := 0
	agent := Agent{Address: addr, Community: secret(rec), Timeout: 3 * time.Second, Retries: &zero}
	set := withoutReaders(ent + ".4.5")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := SurveyDevice(ctx, agent, set, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.SysObjectID != "1.3.6.1.4.1.21796.4.9" || s.SysDescr != "WLD2 1.4.3" {
		t.Errorf("sysObjectID %q, sysDescr %q", s.SysObjectID, s.SysDescr)
	}
	if s.Chosen != ent {
		t.Errorf("chosen subtree %q, want %s (%+v)", s.Chosen, ent, s.Enterprises)
	}
	var e *EnterpriseData
	for i := range s.Enterprises {
		if s.Enterprises[i].Subtree == ent {
			e = &s.Enterprises[i]
		}
	}
	if e == nil || e.Objects != 24 || e.Read != 0 {
		t.Errorf("enterprise %s: %+v, want 24 objects, none read", ent, e)
	}
	golden := filepath.Join("testdata", "draft", rec+".yaml")
	got := []byte(strings.ReplaceAll(string(s.Skeleton), addr, "ADDR"))
	if *update {
		_ = os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update, then review the file)", err)
	}
	if string(got) != string(want) {
		t.Errorf("skeleton differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
	if _, err := ParseProfile(s.Skeleton, "draft.yaml"); err == nil || !strings.Contains(err.Error(), "still a draft") {
		t.Errorf("an unfinished draft loads: %v", err)
	}

	// Finished: wldState and wldValue named, the rest deleted.
	done := finishDraft(t, s.Skeleton, "HWg-WLD-MIB (1.3.6.1.4.1.21796.4.5)", map[string]string{
		"FIXME_4_5_4_1_3": "sensor_leak_state",
		"FIXME_4_5_4_1_6": "sensor_leak_value",
	}, "sensor")
	dir := t.TempDir()
	file := filepath.Join(dir, "wld.yaml")
	if err := os.WriteFile(file, done, 0o644); err != nil {
		t.Fatal(err)
	}
	rs := CheckProfiles([]string{file})
	if rs[0].Err != nil {
		t.Fatalf("the finished draft fails the check: %v\n%s", rs[0].Err, done)
	}
	loaded, err := LoadProfiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewCollector("wld", Options{SNMP: agent, Profiles: []string{"draft-21796"}}, loaded, nil)
	if err != nil {
		t.Fatal(err)
	}
	var samples []model.Sample
	if _, err := k.Poll(ctx, func(s model.Sample) { samples = append(samples, s) }); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteProm(&b, samples); err != nil {
		t.Fatal(err)
	}
	wantProm := `sensor_leak_state{sensor="Sonde Nord"} 1
sensor_leak_state{sensor="Water 502"} 3
sensor_leak_state{sensor="Water 503"} 3
sensor_leak_state{sensor="Water 504"} 3
sensor_leak_value{sensor="Sonde Nord"} 0
sensor_leak_value{sensor="Water 502"} 2
sensor_leak_value{sensor="Water 503"} 2
sensor_leak_value{sensor="Water 504"} 2
snmp_profile_matched{profile="draft-21796"} 1
`
	if b.String() != wantProm {
		t.Errorf("the finished draft polls:\n%s\nwant:\n%s", b.String(), wantProm)
	}
}

// TestDraftRecordings: the skeletons of devices laid out as scalars
// (ServersCheck: name then value; Sensatronics: groups of name, value,
// value) and of a large vendor tree (Rittal CMC III, 3,000 objects), from
// recordings served by snmpsimd, against reviewed goldens
// (testdata/draft/<recording>.yaml). Each skeleton is the only problem
// ParseProfile finds: its FIXMEs.
func TestDraftRecordings(t *testing.T) {
	recs := map[string]string{"serverscheck": "1.3.6.1.4.1.17095", "sensatronics-em1": "1.3.6.1.4.1.16174", "rittal-cmc-iii-pu": "1.3.6.1.4.1.2606"}
	var names []string
	for n := range recs {
		names = append(names, n)
	}
	addr, _ := startSimd(t, "", names...)
	zero := 0
	for rec, ent := range recs {
		t.Run(rec, func(t *testing.T) {
			agent := Agent{Address: addr, Community: secret(rec), Timeout: 3 * time.Second, Retries: &zero}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := SurveyDevice(ctx, agent, withoutReaders(ent), "")
			if err != nil {
				t.Fatal(err)
			}
			if s.Chosen != ent {
				t.Fatalf("chosen %q, want %s", s.Chosen, ent)
			}
			got := []byte(strings.ReplaceAll(string(s.Skeleton), addr, "ADDR"))
			golden := filepath.Join("testdata", "draft", rec+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update, then review the file)", err)
			}
			if string(got) != string(want) {
				t.Errorf("skeleton differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			_, err = ParseProfile(s.Skeleton, rec+".yaml")
			all, ok := err.(*config.Errors)
			if !ok {
				t.Fatalf("ParseProfile: %v", err)
			}
			for _, e := range all.List {
				if !strings.Contains(e.Msg, "still a draft") {
					t.Errorf("the draft has a problem besides its FIXMEs: %v", e)
				}
			}
		})
	}
}

// What a draft takes for a number: integers of every SNMP type and text
// that reads as one; never a binary string (shown in hex), an OID or an
// address.
func TestWalkedOf(t *testing.T) {
	for _, tc := range []struct {
		p            gosnmp.SnmpPDU
		text         string
		numeric, ctr bool
	}{
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.Integer, -5), "-5", true, false},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.Counter64, uint64(1802190559312)), "1802190559312", true, true},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.OctetString, []byte("54.3")), "54.3", true, false},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.OctetString, []byte("230 V")), "230 V", true, false},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.OctetString, []byte{0x12, 0x34}), "1234", false, false},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.OctetString, []byte("DRY")), "DRY", false, false},
		{pdu("1.3.6.1.4.1.9.1.0", gosnmp.ObjectIdentifier, ".1.3.6.1"), "1.3.6.1", false, false},
	} {
		w, ok := walkedOf(tc.p)
		if !ok || w.Text != tc.text || w.Numeric != tc.numeric || w.Counter != tc.ctr {
			t.Errorf("%v %v: got %+v", tc.p.Type, tc.p.Value, w)
		}
	}
	if _, ok := walkedOf(gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.EndOfMibView}); ok {
		t.Error("endOfMibView is an object")
	}
}

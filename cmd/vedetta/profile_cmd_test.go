package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// `vedetta profile check`: a good file is OK (exit 0), a broken one gets
// every problem with file:line on stderr (exit 1), and one broken file
// among good ones fails the run.
func TestProfileCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, "name: acme\nmib: ACME-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: sensor_temperature_celsius, walk: 1.3.6.1.4.1.99999.1.3, scale: 0.1}\n")
	writeFile(t, bad, "name: acme2\nmib: ACME-MIB\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: sensor_temperature_celsius, walk: temp, scael: 0.1}\n")
	code, out, errOut := runCLI(t, "profile", "check", good)
	if code != 0 || !strings.Contains(out, good+": OK (profile acme, 1 metrics)") {
		t.Errorf("good file: exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "profile", "check", good, bad)
	if code != 1 || !strings.Contains(out, good+": OK") {
		t.Errorf("one bad file: exit %d, out %q", code, out)
	}
	for _, w := range []string{bad + `:5: metrics[0].scael: unknown field "scael" (did you mean "scale"?)`, bad + `:5: metrics[0].walk: "temp" is not a numeric OID`} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if code, _, _ := runCLI(t, "profile", "check", filepath.Join(dir, "missing.yaml")); code != 1 {
		t.Errorf("a missing file: exit %d", code)
	}
	// A folder: its files, as profile_dirs loads them.
	code, out, errOut = runCLI(t, "profile", "check", dir)
	if code != 1 || !strings.Contains(out, good+": OK") || !strings.Contains(errOut, bad+":5: metrics[0].walk") {
		t.Errorf("a folder: exit %d, out %q, err %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "profile", "check", t.TempDir()); code != 1 || !strings.Contains(errOut, "no profile (*.yaml, *.yml) in this folder") {
		t.Errorf("an empty folder: exit %d, %s", code, errOut)
	}
	_ = os.Remove(bad)
}

// finishDraft is what a person does with a draft: names the metrics
// wanted (draft name -> name), deletes the others, renames the label,
// says which MIB it is.
func finishDraft(t *testing.T, draft []byte, wanted map[string]string, label string) []byte {
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
			v.Value = "HWg-WLD-MIB"
		case "class":
			v.Value = "environment"
		case "description":
			v.Value = "leak sensors"
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
					if m.Content[j].Value == "labels" {
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

// The acceptance line of issue 12, on the commands: `profile draft`
// against a recording served by snmpsimd (HW group WLD2), the draft
// refused by `profile check` until finished, then checked, loaded from a
// config's profile_dirs for a target, polled (`probe --target`), and shown
// by `probe snmp` with the device's identity and why the profile matched.
func TestProfileDraftCheckAndPollEndToEnd(t *testing.T) {
	const rec = "hwg-wld_wld2"
	addr := startSimd(t, rec)
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	draft := filepath.Join(dir, "draft.yaml")
	code, out, errOut := runCLI(t, "profile", "draft", addr, "--community", rec, "--timeout", "3s", "--subtree", "1.3.6.1.4.1.21796.4.5", "-o", draft)
	if code != 0 {
		t.Fatalf("draft: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"# sysDescr: WLD2 1.4.3\n", "# sysObjectID: 1.3.6.1.4.1.21796.4.9\n", "# subtree 1.3.6.1.4.1.21796: 24 objects, ",
		"# skeleton for 1.3.6.1.4.1.21796.4.5 written to " + draft} {
		if !strings.Contains(errOut, w) {
			t.Errorf("draft report lacks %q:\n%s", w, errOut)
		}
	}
	body, err := os.ReadFile(draft)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "profile", "check", draft); code != 1 || !strings.Contains(errOut, "still a draft") {
		t.Errorf("an unfinished draft: exit %d, %s", code, errOut)
	}
	done := filepath.Join(profiles, "wld.yaml")
	writeFile(t, done, string(finishDraft(t, body, map[string]string{"FIXME_4_1_3": "sensor_leak_state", "FIXME_4_1_6": "sensor_leak_value"}, "sensor")))
	if code, out, errOut := runCLI(t, "profile", "check", done); code != 0 || !strings.Contains(out, done+": OK (profile draft-21796-4-5, 2 metrics)") {
		t.Fatalf("the finished draft: exit %d\n%s%s", code, out, errOut)
	}

	cfg := filepath.Join(dir, "vedetta.yaml")
	writeFile(t, cfg, fmt.Sprintf(`state_dir: %s
profile_dirs: [profiles]
targets:
  - name: wld
    kind: snmp
    class: environment
    snmp: {address: "%s", community: %s, timeout: 3s}
    profiles: [draft-21796-4-5]
`, filepath.Join(dir, "state"), addr, rec))
	if code, out, errOut := runCLI(t, "check", "--config", cfg); code != 0 {
		t.Fatalf("vedetta check: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "probe", "--config", cfg, "--target", "wld")
	if code != 0 {
		t.Fatalf("probe --target: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		`sensor_leak_state{class="environment",sensor="Sonde Nord",target="wld"} 1`,
		`sensor_leak_state{class="environment",sensor="Water 504",target="wld"} 3`,
		`sensor_leak_value{class="environment",sensor="Sonde Nord",target="wld"} 0`,
		`sensor_leak_value{class="environment",sensor="Water 502",target="wld"} 2`,
	} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("probe --target lacks %q:\n%s", w, out)
		}
	}

	code, out, errOut = runCLI(t, "probe", "snmp", addr, "--community", rec, "--timeout", "3s", "--profile-dir", profiles)
	if code != 0 {
		t.Fatalf("probe snmp: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"# sysDescr: WLD2 1.4.3", "# sysObjectID: 1.3.6.1.4.1.21796.4.9",
		"# profile draft-21796-4-5: subtree 1.3.6.1.4.1.21796.4.5.4 answers (1.3.6.1.4.1.21796.4.5.4.1.1.1)",
		`sensor_leak_state{sensor="Water 503"} 3`} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("probe snmp lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = runCLI(t, "probe", "snmp", addr, "--community", rec, "--timeout", "3s", "--profile-dir", profiles, "--profile", "draft-21796-4-5")
	if code != 0 || !strings.Contains(out, "# profile draft-21796-4-5: named with --profile\n") {
		t.Errorf("probe snmp --profile: exit %d\n%s", code, out)
	}
}

// `vedetta check` on a config whose profile_dirs hold a broken profile and
// name a folder that is not there: each problem on its own line, the
// profile's with its own file and line, the folder's on profile_dirs.
func TestCheckPlacesProfileProblems(t *testing.T) {
	dir := t.TempDir()
	writeProfile(t, filepath.Join(dir, "profiles"), "a.yaml", "name: acme\nmib: ACME\nmatch: {subtrees: [1.3.6.1.4.1.99999]}\nmetrics:\n  - {name: m, walk: x, scael: 1}\n")
	cfg := filepath.Join(dir, "v.yaml")
	writeFile(t, cfg, "state_dir: "+filepath.Join(dir, "state")+"\nprofile_dirs: [profiles, nothere]\n")
	code, _, errOut := runCLI(t, "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	a := filepath.Join(dir, "profiles", "a.yaml")
	for _, w := range []string{
		a + `:5: metrics[0].scael: unknown field "scael" (did you mean "scale"?)` + "\n",
		a + `:5: metrics[0].walk: "x" is not a numeric OID` + "\n",
		cfg + ":2: profile_dirs: profile folder: stat " + filepath.Join(dir, "nothere") + ": no such file or directory\n",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("check output lacks %q:\n%s", w, errOut)
		}
	}
}

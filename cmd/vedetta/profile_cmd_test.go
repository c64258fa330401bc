package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	_ = os.Remove(bad)
}

// Package packaging holds the Debian package's files; this test keeps
// them consistent with each other without building the package (the
// build, install and purge are checked by packaging/check-deb in CI).
package packaging

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// preinst creates the user from a copy of the sysusers line (the file is
// not unpacked yet when preinst runs): the two must not drift apart.
func TestSysusersInPreinst(t *testing.T) {
	sysusers := read(t, "vedetta.sysusers")
	preinst := read(t, "scripts/preinst")
	var lines int
	for _, l := range strings.Split(sysusers, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines++
		if !strings.Contains(preinst, "\n"+l+"\n") {
			t.Errorf("preinst lacks the sysusers line %q", l)
		}
	}
	if lines == 0 {
		t.Fatal("vedetta.sysusers declares nothing")
	}
}

// Everything the service reads under /etc/vedetta is root:vedetta and
// closed to others, and the config and rules are conffiles (an upgrade
// must not overwrite an administrator's edits).
func TestContentsModes(t *testing.T) {
	var cfg struct {
		Contents []struct {
			Src, Dst, Type string
			FileInfo       struct {
				Mode         os.FileMode
				Owner, Group string
			} `yaml:"file_info"`
		}
	}
	if err := yaml.Unmarshal([]byte(read(t, "nfpm.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cfg.Contents {
		if !strings.HasPrefix(c.Dst, "/etc/vedetta") {
			continue
		}
		seen[strings.TrimSuffix(c.Dst, "/")] = true
		want := os.FileMode(0o640)
		if c.Type == "dir" {
			want = 0o750
		} else if c.Type != "config" {
			t.Errorf("%s: type %q, want config (a conffile)", c.Dst, c.Type)
		}
		if c.FileInfo.Mode != want || c.FileInfo.Owner != "root" || c.FileInfo.Group != "vedetta" {
			t.Errorf("%s: %s:%s %o, want root:vedetta %o", c.Dst, c.FileInfo.Owner, c.FileInfo.Group, c.FileInfo.Mode, want)
		}
	}
	for _, p := range []string{"/etc/vedetta", "/etc/vedetta/vedetta.yaml", "/etc/vedetta/rules.d", "/etc/vedetta/secrets"} {
		if !seen[p] {
			t.Errorf("the package does not declare %s", p)
		}
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package ipmi

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
)

func TestNewOptions(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"ipmi: {address: 10.0.0.1, username: u, password: p}", ""},
		{"ipmi: {address: '[fe80::1]:6230', interface: lan}", ""},
		{"ipmi: {address: bmc.example, cipher_suite: 17, privilege: operator, sel_newest: 0}", ""},
		{"ipmi: {}", "ipmi.address: required"},
		{"ipmi: {address: 'h:0'}", "ipmi.address"},
		{"ipmi: {address: 'h:x'}", "ipmi.address"},
		{"ipmi: {address: h, interface: lanplus2}", "ipmi.interface"},
		{"ipmi: {address: h, interface: lan, cipher_suite: 3}", "ipmi.cipher_suite: only with interface: lanplus"},
		{"ipmi: {address: h, cipher_suite: 18}", "ipmi.cipher_suite"},
		{"ipmi: {address: h, privilege: root}", "ipmi.privilege"},
		{"ipmi: {address: h, password: p}", "ipmi.username"},
		{"ipmi: {address: h, sel_newest: -1}", "ipmi.sel_newest"},
		{"ipmi: {address: h, adress: x}", "adress"},
	}
	for _, tc := range cases {
		_, err := New(collectors.Spec{Name: "x", Kind: "ipmi"}, collectortest.DecodeYAML(tc.yaml))
		if !collectortest.ErrMatches(err, tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestEveryMetricDocumented: each server_* name the code can emit is in
// the README's metric table.
func TestEveryMetricDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range []string{"ipmi.go", "normalize.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(server_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 15 {
		t.Fatalf("found %d metric names in the code, expected more: %v", len(names), names)
	}
	for n := range names {
		if !strings.Contains(string(readme), "| `"+n+"` |") {
			t.Errorf("%s is not in README.md's metric table", n)
		}
	}
}

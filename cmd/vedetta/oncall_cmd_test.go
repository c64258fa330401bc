package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/oncall"
)

var oncallBase = strings.Replace(checkBase, "routes:\n", `  - name: anna
    email: [anna@t.example]
  - name: marco
    email: [marco@t.example]
  - name: primary
    oncall: primary
routes:
`, 1) + `schedules:
  - name: primary
    time_zone: Europe/Rome
    every: week
    start: 2026-11-30 09:00
    people: [anna, marco]
    overrides:
      - {person: noc, from: 2026-12-24 18:00, until: 2026-12-27 09:00}
`

// vedetta oncall says who is on call at a moment, overrides included.
func TestOncallCommand(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.yaml")
	// No daemon on its listener: the command answers from the config.
	cfg := strings.Replace(oncallBase, "site: t\n", fmt.Sprintf("site: t\nhttp: {listen: 127.0.0.1:%d}\n", closedPort(t)), 1)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ at, now, next string }{
		{"2026-12-01T12:00:00+01:00", "anna", "marco"},
		{"2026-12-07T08:59:00+01:00", "anna", "marco"},
		{"2026-12-07T09:00:00+01:00", "marco", "anna"},
		{"2026-12-24T19:00:00+01:00", "noc", "marco"}, // the override, then the rest of marco's week
		{"2026-12-27T09:00:00+01:00", "marco", "anna"},
	} {
		code, out, errs := runCLI(t, "oncall", "--config", p, "--at", tc.at, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var got []oncall.Report
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
			t.Fatalf("%v: %s", err, out)
		}
		if got[0].Now.Person != tc.now || got[0].Next[0].Person != tc.next {
			t.Errorf("at %s: now %s next %s, want %s then %s", tc.at, got[0].Now.Person, got[0].Next[0].Person, tc.now, tc.next)
		}
	}
	code, out, _ := runCLI(t, "oncall", "--config", p, "--at", "2026-12-24 19:00")
	if code != 0 || !regexp.MustCompile(`now +noc +Thu 2026-12-24 18:00 CET`).MatchString(out) || !strings.Contains(out, "override") {
		t.Errorf("text output:\n%s", out)
	}
}

// Schedules are checked like the rest of the config: file, line, field.
func TestCheckSchedules(t *testing.T) {
	line := strings.Count(oncallBase[:strings.Index(oncallBase, "schedules:")], "\n") + 1
	checkEdits(t, oncallBase, []checkEdit{
		{"unknown zone", "Europe/Rome", "Europe/Roma", fmt.Sprintf(`:%d: schedules[0].time_zone: unknown time zone "Europe/Roma"`, line+2)},
		{"not a person", "people: [anna, marco]", "people: [anna, mallory]", fmt.Sprintf(`:%d: schedules[0].people[1]: "mallory" is not a receiver`, line+5)},
		{"a schedule is no person", "people: [anna, marco]", "people: [anna, primary]", `schedules[0].people[1]: "primary" is not a receiver with contact points`},
		{"unknown schedule", "    oncall: primary\n", "    oncall: secondary\n", `receivers[3].oncall: no schedule is named "secondary"`},
		{"contacts of its own", "    oncall: primary\n", "    oncall: primary\n    email: [x@t.example]\n", `receivers[3].oncall: receiver "primary" is whoever is on call`},
		{"next without oncall", "  - name: anna\n", "  - name: anna\n    next: 1\n", `receivers[1].next: next counts people in an on-call rotation`},
		{"unknown key", "    every: week\n", "    evry: week\n", fmt.Sprintf(`:%d: schedules[0].evry: unknown field "evry"`, line+3)},
		{"override backwards", "until: 2026-12-27 09:00", "until: 2026-12-20 09:00", `schedules[0].overrides[0].until: the override ends`},
	})
}

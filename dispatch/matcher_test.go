package dispatch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMatchers(t *testing.T) {
	port := firing("p1", "warning", "target", "core-sw1", "ifname", "Gi1/0/7")
	ups := firing("u1", "critical", "target", "ups-b")
	for _, tc := range []struct {
		in       string
		port, ok bool // matches the port alarm, the UPS one
		err      string
	}{
		{in: "target=core-sw1", port: true},
		{in: "ifname=~Gi1/.*", port: true},
		{in: "ifname=~Gi1", err: ""}, // anchored: Gi1 alone does not match Gi1/0/7
		{in: "ifname!~Gi1/.*", ok: true},
		{in: "target!=core-sw1", ok: true},
		{in: "severity=critical", ok: true},
		{in: "alertname=~R|S", port: true, ok: true},
		{in: ` target = "ups-b" `, ok: true},
		{in: `ifname=~"Gi1/0/[0-9]+"`, port: true}, // as String writes it
		{in: "a=b=~c"}, // the first operator: a equals "b=~c"
		{in: "ifname", err: "want LABEL=VALUE"},
		{in: "=x", err: "want LABEL=VALUE"},
		{in: "if-name=x", err: "not a label name"},
		{in: "ifname=~Gi1/(", err: "missing closing )"},
	} {
		m, err := ParseMatcher(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if m.Matches(port) != tc.port || m.Matches(ups) != tc.ok {
			t.Errorf("%q (%s): port %v ups %v, want %v %v", tc.in, m, m.Matches(port), m.Matches(ups), tc.port, tc.ok)
		}
	}
}

// A run-time silence with a regex mutes what it matches, survives a
// restart (decoded from the store, recompiled), and one that would match
// everything is refused.
func TestSilenceWithRegexMatchers(t *testing.T) {
	x := newDTest(t, baseConfig())
	now := x.clock.Now()
	m1, _ := ParseMatcher("target=~core-sw.*")
	m2, _ := ParseMatcher("ifname=~Gi1/.*")
	s, err := x.d.AddSilence(Matchers{m1, m2}, now, now.Add(time.Hour), "recabling", "anna")
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != `target=~"core-sw.*" ifname=~"Gi1/.*"` {
		t.Errorf("silence reads %q", s.String())
	}
	d2, err := NewDispatcher(x.st, baseConfig(), nil, discard()) // a restart: read from the store
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Dispatcher{x.d, d2} {
		var got *Silence
		for _, sl := range d.silenceList() {
			if sl.ID == s.ID {
				got = sl
			}
		}
		p1, p2 := firing("p1", "critical", "target", "core-sw2", "ifname", "Gi1/0/7"), firing("p2", "critical", "target", "core-sw2", "ifname", "Te1/1/1")
		if got == nil || !got.Matches(&p1) || got.Matches(&p2) {
			t.Fatalf("silence %+v after reload: matches %v %v", got, got != nil && got.Matches(&p1), got != nil && got.Matches(&p2))
		}
	}
	for _, all := range []string{"target=~.*", "target!=x", "ifname!~Gi1/.*"} {
		m, _ := ParseMatcher(all)
		if _, err := x.d.AddSilence(Matchers{m}, now, now.Add(time.Hour), "", ""); err == nil || !strings.Contains(err.Error(), "outage") {
			t.Errorf("silence %s accepted: %v", all, err)
		}
	}
	// A record from before matchers (match only) still silences.
	var old Silence
	if err := json.Unmarshal([]byte(`{"id":"s1","match":{"target":"ups-b"},"ends_at":"2099-01-01T00:00:00Z"}`), &old); err != nil {
		t.Fatal(err)
	}
	u := firing("u1", "critical", "target", "ups-b")
	if p := old.prepared(); !p.Matches(&u) {
		t.Error("an old record's match is ignored")
	}
}

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const base = `site: dc1
targets:
  - name: localhost
    kind: host
    interval: 15s
rules:
  - name: Full
    expr: host_filesystem_used_ratio > 0.9
notify:
  email:
    from: vedetta@dc1.example
    relays:
      - {host: smtp1.example, port: 587, tls: starttls}
receivers:
  - name: noc
    email: [noc@dc1.example]
routes:
  - receivers: [noc]
`

func TestLoadValid(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(write(t, dir, "v.yaml", base))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.Interval != 15*time.Second || tg.Timeout != 12*time.Second || tg.Class != "host" {
		t.Errorf("defaults: interval %v timeout %v class %q", tg.Interval, tg.Timeout, tg.Class)
	}
	if cfg.HTTP.Listen != "127.0.0.1:9750" {
		t.Errorf("http.listen default %q, want loopback", cfg.HTTP.Listen)
	}
	if cfg.Rules[0].Severity != "warning" {
		t.Errorf("severity default %q", cfg.Rules[0].Severity)
	}
	if r := cfg.Notify.Email.Relays[0]; r.Timeout != 10*time.Second || r.Port != 587 {
		t.Errorf("relay defaults %+v", r)
	}
}

// Every problem names the file, the line and the field.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           string // "LINE: FIELD: message part"
	}{
		{"unknown key", "    expr: host_filesystem_used_ratio > 0.9\n", "    expr: host_filesystem_used_ratio > 0.9\n    sevrity: critical\n", `:9: rules[0].sevrity: unknown field "sevrity" (did you mean "severity"?)`},
		{"wrong type", "port: 587", "port: five", `:13: notify.email.relays[0].port: expected a whole number, got "five"`},
		{"bad duration", "interval: 15s", "interval: 15 seconds", `:5: targets[0].interval: invalid duration "15 seconds"`},
		{"list expected", "email: [noc@dc1.example]", "email: noc@dc1.example", `:16: receivers[0].email: expected a list`},
		{"missing receiver", "  - receivers: [noc]", "  - receivers: [nobody]", `:18: routes[0].receivers[0]: no receiver is named "nobody"`},
		{"bad severity", "    expr: host_filesystem_used_ratio > 0.9\n", "    expr: host_filesystem_used_ratio > 0.9\n    severity: urgent\n", `:9: rules[0].severity: want info, warning or critical, got "urgent"`},
		{"timeout above interval", "    interval: 15s\n", "    interval: 15s\n    timeout: 20s\n", `:6: targets[0].timeout: must be shorter than the interval`},
		{"duplicate target", "rules:\n", "  - {name: localhost, kind: host}\nrules:\n", `:6: targets[1].name: target "localhost" is defined twice`},
		{"bad yaml", "site: dc1", "site: [dc1", `:1: not valid YAML`},
		{"unset env", "site: dc1", "site: ${VEDETTA_TEST_SURELY_UNSET}", `:1: environment variable VEDETTA_TEST_SURELY_UNSET is not set`},
		{"bad from", "from: vedetta@dc1.example", "from: not an address", `notify.email.from: not an e-mail address`},
		{"retry_for refused", "      - {host: smtp1.example, port: 587, tls: starttls}\n", "      - {host: smtp1.example, port: 587, tls: starttls}\n  sms:\n    retry_for: 2m\n    providers: [{name: x, twilio: {}}]\n", `:15: notify.sms.retry_for: retry_for was removed`},
		{"bad burst", "      - {host: smtp1.example, port: 587, tls: starttls}\n", "      - {host: smtp1.example, port: 587, tls: starttls}\n  sms:\n    burst: -1\n    providers: [{name: x, twilio: {}}]\n", `:15: notify.sms.burst: want 1-100 SMS per number at once`},
		{"bad external_url", "site: dc1\n", "site: dc1\nhttp:\n  external_url: vedetta.example/x?y=1\n", `:3: http.external_url: want the URL others reach this listener at`},
		{"voice without external_url", "      - {host: smtp1.example, port: 587, tls: starttls}\n", "      - {host: smtp1.example, port: 587, tls: starttls}\n  voice:\n    providers: [{name: x, twilio: {}}]\n", `:14: notify.voice: a call takes its key (4 acknowledges) through http.external_url`},
		{"voice number without notify.voice", "email: [noc@dc1.example]", "email: [noc@dc1.example]\n    voice: [\"+393331234567\"]", `:17: receivers[0].voice: receiver "noc" has voice numbers but notify.voice is not configured`},
		{"bad voice number", "email: [noc@dc1.example]", "email: [noc@dc1.example]\n    voice: [\"3331234567\"]", `:17: receivers[0].voice[0]: "3331234567" is not an international number`},
		{"unknown channel", "  - receivers: [noc]", "  - receivers: [noc]\n    channels: [phone]", `:19: routes[0].channels[0]: unknown channel "phone" (known: email, sms, voice, webhook)`},
		{"password and file", "tls: starttls}", "tls: starttls, username: u, password: p, password_file: x}", `notify.email.relays[0].password_file: give either password or password_file, not both`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("test case: %q not in base", c.from)
			}
			p := write(t, t.TempDir(), "v.yaml", strings.Replace(base, c.from, c.to, 1))
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p+c.want) && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s%s", err, p, c.want)
			}
			if !strings.HasPrefix(err.Error(), p) {
				t.Errorf("error does not start with the file name: %v", err)
			}
		})
	}
}

func TestEnvAndSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "secrets/smtp.pass", "s3cret\n")
	t.Setenv("VEDETTA_TEST_SITE", "dc-env")
	cfg := strings.Replace(base, "site: dc1", "site: ${VEDETTA_TEST_SITE}\nstate_dir: ${VEDETTA_TEST_NOPE:-state}", 1)
	cfg = strings.Replace(cfg, "tls: starttls}", "tls: starttls, username: alarms, password_file: secrets/smtp.pass}", 1)
	c, err := Load(write(t, dir, "v.yaml", cfg))
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "dc-env" {
		t.Errorf("site %q", c.Site)
	}
	if c.StateDir != filepath.Join(dir, "state") {
		t.Errorf("state_dir %q", c.StateDir)
	}
	pw := c.Notify.Email.Relays[0].Password
	if pw.Reveal() != "s3cret" {
		t.Errorf("password from file: %q", pw.Reveal())
	}
	if s := pw.String(); strings.Contains(s, "s3cret") {
		t.Errorf("Secret prints itself: %s", s)
	}
	// A missing secret file is an error that names the file, not a secret.
	cfg2 := strings.Replace(cfg, "secrets/smtp.pass", "secrets/missing.pass", 1)
	_, err = Load(write(t, dir, "v2.yaml", cfg2))
	if err == nil || !strings.Contains(err.Error(), "missing.pass") || !strings.Contains(err.Error(), ":14: notify.email.relays[0].password_file") {
		t.Errorf("missing secret file: %v", err)
	}
}

func TestRuleFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.d/a.yaml", "rules:\n  - name: A\n    expr: x > 1\n")
	write(t, dir, "rules.d/b.yaml", "rules:\n  - name: B\n    expr: y > 1\n    severity: loud\n")
	p := write(t, dir, "v.yaml", base+"rule_files: [rules.d/*.yaml]\n")
	_, err := Load(p)
	want := filepath.Join(dir, "rules.d/b.yaml") + `:4: rules[0].severity: want info, warning or critical, got "loud"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %s", err, want)
	}
	write(t, dir, "rules.d/b.yaml", "rules:\n  - name: B\n    expr: y > 1\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 3 || c.Rules[2].Name != "B" || c.Rules[2].Origin.File != filepath.Join(dir, "rules.d/b.yaml") {
		t.Errorf("rules %+v", c.Rules)
	}
}

// A rule_files entry that loads nothing is an error: rules that silently
// never load are alarms nobody gets.
func TestRuleFilesMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.d/a.yaml", "rules:\n  - name: A\n    expr: x > 1\n")
	for _, tc := range []struct{ files, want string }{
		{"[rules.d/*.yml]", `:%d: rule_files[0]: no file matches it: rules.d/*.yml`},
		{"[rules.d/a.yaml, rules.d/b.yaml]", `:%d: rule_files[1]: no such file: rules.d/b.yaml`},
	} {
		p := write(t, dir, "v.yaml", base+"rule_files: "+tc.files+"\n")
		want := fmt.Sprintf(tc.want, strings.Count(base, "\n")+1)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rule_files %s: %v, want %s", tc.files, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "5m": 5 * time.Minute, "7d": 7 * 24 * time.Hour,
		"1h30m": 90 * time.Minute, "1w": 7 * 24 * time.Hour, "500ms": 500 * time.Millisecond, "0": 0, "1d12h": 36 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "5 m", "m", "1x", "-5m"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestBuiltinLoads(t *testing.T) {
	c := Builtin()
	if len(c.Targets) != 1 || c.Targets[0].Kind != "host" || len(c.Rules) < 5 {
		t.Fatalf("built-in default: %d targets, %d rules", len(c.Targets), len(c.Rules))
	}
}

// A block's owner names the field; Place gives it file, line and path,
// through joins and wraps, with no field names read out of message text.
func TestProblemsArePlaced(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/v.yaml"
	if err := os.WriteFile(path, []byte("site: x\nstate_dir: "+dir+"\ntargets:\n  - name: a\n    kind: exec\n    exec:\n      command: [x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		Exec struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	if err := cfg.Decoder(cfg.Targets[0])(&opts); err != nil { // as the collector does first
		t.Fatal(err)
	}
	err = errors.Join(Within("exec", Problem("command", "bad %d", 1)), fmt.Errorf("wrapped: %w", Problem("exec.format", "no")), errors.New("plain"))
	got := cfg.Place(cfg.Targets[0].Origin, "", err)
	want := []string{
		path + ":7: targets[0].exec.command: bad 1",
		path + ":6: targets[0].exec.format: no", // absent: the block's line
		path + ":4: targets[0]: plain",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
}

// http.ui_auth: open read-only views on loopback, a login for every page
// elsewhere, unless the config says.
func TestUIAuthDefault(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ http, want, err string }{
		{"", "writes", ""},
		{"http: {listen: \"[::1]:9750\"}\n", "writes", ""},
		{"http: {listen: 0.0.0.0:9750}\n", "always", ""},
		{"http: {listen: 10.0.0.5:9750, ui_auth: writes}\n", "writes", ""},
		{"http: {ui_auth: sometimes}\n", "", "http.ui_auth: want writes"},
	} {
		p := write(t, dir, "v.yaml", base+tc.http)
		c, err := Load(p)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %s", tc.http, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.http, err)
		case c.HTTP.UIAuth != tc.want:
			t.Errorf("%q: ui_auth %q, want %q", tc.http, c.HTTP.UIAuth, tc.want)
		}
	}
}

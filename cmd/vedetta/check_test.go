package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// runCLI runs vedetta in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	var ec exitCode
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ec):
		return int(ec), out.String(), errb.String()
	}
	return 1, out.String(), errb.String() + err.Error()
}

// Every example in configs/ must load: they are what people copy.
func TestConfigsExamplesPassCheck(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testpeer.RepoRoot(t), "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs/*.yaml (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runCLI(t, "check", "--config", f)
			if code != 0 {
				t.Fatalf("vedetta check %s: exit %d\n%s%s", f, code, out, errs)
			}
			if !strings.Contains(out, "OK") {
				t.Errorf("no OK line: %s", out)
			}
		})
	}
}

const checkBase = `site: t
targets:
  - name: cmd
    kind: exec
    interval: 10s
    exec:
      command: [/bin/true]
      format: nagios
rules:
  - name: Bad
    expr: check_status >= 2
notify:
  email:
    from: v@t.example
    relays: [{host: 127.0.0.1, port: 25}]
receivers:
  - name: noc
    email: [noc@t.example]
routes:
  - receivers: [noc]
`

// vedetta check prints every problem with file, line and field, and exits 1.
func TestCheckReportsProblems(t *testing.T) {
	cases := []checkEdit{
		{"unknown key in a kind block", "      format: nagios\n", "      format: nagios\n      timout: 5s\n", `:9: targets[0].exec.timout: unknown field "timout" (did you mean "timeout"?)`},
		{"wrong type in a kind block", "command: [/bin/true]", "command: /bin/true", `:7: targets[0].exec.command: expected a list`},
		{"bad format", "format: nagios", "format: json", `:8: targets[0].exec.format: want nagios or prometheus`},
		{"bad duration", "interval: 10s", "interval: ten", `:5: targets[0].interval: invalid duration "ten"`},
		{"unparsable expression", "expr: check_status >= 2", "expr: check_status >=> 2", `:11: rules[0].expr: cannot parse expression`},
		{"window function misuse", "expr: check_status >= 2", "expr: rate(check_status) > 2", `:11: rules[0].expr: rate() takes a metric and a duration`},
		{"bad template", "    expr: check_status >= 2\n", "    expr: check_status >= 2\n    summary: \"{{ .Value \"\n", `:12: rules[0].summary: bad template`},
		{"missing receiver", "  - receivers: [noc]", "  - receivers: [oncall]", `:20: routes[0].receivers[0]: no receiver is named "oncall"`},
		{"unknown kind", "kind: exec", "kind: telepathy", `:4: targets[0].kind: unknown kind "telepathy"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(checkBase, c.from) {
				t.Fatalf("test case: %q not in the base config", c.from)
			}
			p := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(p, []byte(strings.Replace(checkBase, c.from, c.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runCLI(t, "check", "--config", p)
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if !strings.Contains(errs, p+c.want) {
				t.Fatalf("output\n  %s\nwant\n  %s%s", errs, p, c.want)
			}
		})
	}
	// The base itself is fine: the cases above fail for their own reason.
	p := filepath.Join(t.TempDir(), "ok.yaml")
	_ = os.WriteFile(p, []byte(checkBase), 0o600)
	if code, out, errs := runCLI(t, "check", "--config", p); code != 0 {
		t.Fatalf("base config: exit %d %s %s", code, out, errs)
	}
}

// Several problems at once are all printed.
func TestCheckPrintsEveryProblem(t *testing.T) {
	bad := strings.Replace(checkBase, "interval: 10s", "interval: ten", 1)
	bad = strings.Replace(bad, "  - receivers: [noc]", "  - receivers: [oncall]", 1)
	bad = strings.Replace(bad, "from: v@t.example", "from: nobody", 1)
	p := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(p, []byte(bad), 0o600)
	code, _, errs := runCLI(t, "check", "--config", p)
	if code != 1 || strings.Count(errs, p+":") != 3 {
		t.Fatalf("exit %d, want 1 and three problems:\n%s", code, errs)
	}
}

func TestProbeExec(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "plugin.sh")
	_ = os.WriteFile(script, []byte("#!/bin/sh\necho 'PING WARNING - rta=12.5ms|rta=12.5ms;10;20;0 pl=0%;10;20;0'\nexit 1\n"), 0o755)
	cfg := filepath.Join(dir, "v.yaml")
	_ = os.WriteFile(cfg, []byte(strings.Replace(checkBase, "/bin/true", script, 1)), 0o600)
	code, out, errs := runCLI(t, "probe", "--config", cfg, "--target", "cmd")
	if code != 0 {
		t.Fatalf("probe: exit %d %s", code, errs)
	}
	for _, want := range []string{
		`check_status{class="exec",target="cmd"} 1`,
		`check_perfdata{class="exec",label="rta",target="cmd",uom="seconds"} 0.0125`,
		`check_perfdata_critical{class="exec",label="pl",target="cmd",uom="percent"} 20`,
		`vedetta_target_up{class="exec",target="cmd"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("probe output lacks %s:\n%s", want, out)
		}
	}
	// A target that cannot be read: non-zero, with a clear message.
	_ = os.WriteFile(cfg, []byte(strings.Replace(checkBase, "/bin/true", filepath.Join(dir, "nope"), 1)), 0o600)
	code, _, errs = runCLI(t, "probe", "--config", cfg, "--target", "cmd")
	if code == 0 || !strings.Contains(errs, "target cmd could not be read") || !strings.Contains(errs, "nope") {
		t.Errorf("probe of a broken target: exit %d, %s", code, errs)
	}
	code, _, errs = runCLI(t, "probe", "--config", cfg, "--target", "ghost")
	if code == 0 || !strings.Contains(errs, `no target named "ghost"`) {
		t.Errorf("probe of an unknown target: exit %d, %s", code, errs)
	}
}

// SMS providers decode and validate their own block (notify/twilio,
// notify/modem); the config places what they say at its line.
func TestCheckSMSProviderBlocks(t *testing.T) {
	base := strings.Replace(checkBase, "    relays: [{host: 127.0.0.1, port: 25}]\n", `    relays: [{host: 127.0.0.1, port: 25}]
  sms:
    providers:
      - name: tw
        twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: x, from: "+15550001111"}
      - name: gsm
        modem: {device: /dev/ttyUSB0}
`, 1)
	cases := []checkEdit{
		{"unknown key in the provider's block", "auth_token: x,", "auth_tokn: x,", `:19: notify.sms.providers[0].twilio.auth_tokn: unknown field "auth_tokn" (did you mean "auth_token"?)`},
		{"the provider's own validation", "account_sid: AC0123456789abcdef0123456789abcdef", "account_sid: nope", `:19: notify.sms.providers[0].twilio.account_sid: want an account SID`},
		{"unknown kind", "        modem: {device: /dev/ttyUSB0}", "        sinch: {device: /dev/ttyUSB0}", `notify.sms.providers[1]: give exactly one provider block: modem, twilio`},
		{"no name", "      - name: gsm\n", "      - name: \"\"\n", `notify.sms.providers[1].name: every provider needs a name`},
	}
	checkEdits(t, base, cases)
}

// The cluster block is checked by package cluster, and its problems name
// file, line and field like every other.
func TestCheckClusterBlock(t *testing.T) {
	base := checkBase + `cluster:
  node: a
  listen_peer: 10.0.1.10:2380
  peers:
    - {node: a, url: "http://10.0.1.10:2380", zone: z1}
    - {node: b, url: "http://10.0.2.10:2380", zone: z2}
    - {node: c, url: "http://10.0.3.10:2380", zone: z3}
`
	line := strings.Count(checkBase, "\n") + 1 // the line of "cluster:"
	cases := []checkEdit{
		{"unknown key", "  node: a\n", "  nod: a\n", fmt.Sprintf(`:%d: cluster.nod: unknown field "nod" (did you mean "node"?)`, line+1)},
		{"not in the peers", "  node: a\n", "  node: x\n", `cluster.peers: this node ("x") is not in the list`},
		{"a peer twice", "{node: c,", "{node: b,", fmt.Sprintf(`:%d: cluster.peers[2].node: "b" is listed twice`, line+6)},
		{"https without tls", `"http://10.0.2.10:2380"`, `"https://10.0.2.10:2380"`, `cluster.peers[1].url: https peers need cluster.tls`},
		{"a bad lease", "  node: a\n", "  node: a\n  lease_ttl: 500ms\n", `cluster.lease_ttl: must be between 2s and 1m`},
		{"no peer address", "  listen_peer: 10.0.1.10:2380\n", "", `cluster.listen_peer: "" is not host:port`},
	}
	checkEdits(t, base, cases)
}

// checkEdit is a config made wrong by one edit, and the error `vedetta
// check` must print for it.
type checkEdit struct{ name, from, to, want string }

// checkEdits runs `vedetta check` on base with each edit (exit 1 and the
// error), and on base itself (exit 0).
func checkEdits(t *testing.T, base string, cases []checkEdit) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("test case: %q not in the base config", c.from)
			}
			p := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(p, []byte(strings.Replace(base, c.from, c.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runCLI(t, "check", "--config", p)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Fatalf("exit %d, output\n  %s\nwant\n  %s", code, errs, c.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "ok.yaml")
	_ = os.WriteFile(p, []byte(base), 0o600)
	if code, out, errs := runCLI(t, "check", "--config", p); code != 0 {
		t.Fatalf("base config: exit %d %s %s", code, out, errs)
	}
}

// A rule's value: is an expression, checked like its condition.
func TestCheckRuleValue(t *testing.T) {
	base := strings.Replace(checkBase, "    expr: check_status >= 2\n", "    expr: check_status >= 2\n    value: check_status\n", 1)
	checkEdits(t, base, []checkEdit{
		{"a value that does not parse", "    value: check_status\n", "    value: check_status >\n", `:12: rules[0].value: cannot parse expression`},
	})
}

// A template that would fail when the message is built fails the check:
// a misspelled field, a function given the wrong type.
func TestCheckTemplates(t *testing.T) {
	base := strings.Replace(checkBase, "    expr: check_status >= 2\n", "    expr: check_status >= 2\n    summary: \"{{ .Labels.target }} at {{ humanize .Value }}\"\n", 1)
	checkEdits(t, base, []checkEdit{
		{"a misspelled field", "{{ humanize .Value }}", "{{ .Vaule }}", `:12: rules[0].summary: bad template: unknown field .Vaule (there are .Labels, .Value, .Rule,`},
		{"a function given a string", "{{ humanize .Value }}", "{{ humanize .Rule }}", `:12: rules[0].summary: bad template:`},
	})
}

// A config silence's matchers are checked with file and line.
func TestCheckSilenceMatchers(t *testing.T) {
	base := checkBase + "silences:\n  - {matchers: [\"target=~cmd.*\"], schedule: \"Sat 02:00-04:00\"}\n"
	line := strings.Count(checkBase, "\n") + 2
	checkEdits(t, base, []checkEdit{
		{"a bad expression", `"target=~cmd.*"`, `"target=~cmd("`, fmt.Sprintf(`:%d: silences[0].matchers[0]: matcher "target=~cmd(": error parsing regexp`, line)},
		{"no operator", `"target=~cmd.*"`, `"target"`, `silences[0].matchers[0]: matcher "target": want LABEL=VALUE`},
	})
}

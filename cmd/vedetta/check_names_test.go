package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/collectors/snmp"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/rules"
)

// namesBase reads UPS and server metrics on a config whose only target is
// an exec one: names of kinds that are not configured are fine.
var namesBase = strings.Replace(checkBase, "    expr: check_status >= 2\n", `    expr: check_status >= 2
  - name: OnBattery
    expr: ups_on_battery == 1 && ups_battery_runtime_seconds < 600
    clear: ups_on_line == 1
    value: ups_battery_runtime_seconds
    summary: '{{ .Labels.target }}: {{ .Value | humanizeDuration }} left'
  - name: PSUs
    expr: count_by(server_psu_ok == 1, "target") < 2
  - name: Warm
    expr: delta(host_temperature_celsius, 10m) > 5
`, 1)

// A rule that reads a metric no collector or profile emits is refused,
// with the file, line and field, and the name it most likely meant.
func TestCheckUnknownMetric(t *testing.T) {
	dir := t.TempDir()
	cases := []checkEdit{
		{"in expr", "expr: ups_on_battery == 1", "expr: ups_on_batery == 1",
			`:13: rules[1].expr: unknown metric "ups_on_batery" (did you mean ups_on_battery?)`},
		{"the second metric of expr", "&& ups_battery_runtime_seconds < 600", "&& ups_battery_runtime_secs < 600",
			`:13: rules[1].expr: unknown metric "ups_battery_runtime_secs" (did you mean ups_battery_runtime_seconds?)`},
		{"in clear", "clear: ups_on_line == 1", "clear: ups_online == 1",
			`:14: rules[1].clear: unknown metric "ups_online" (did you mean ups_on_line?)`},
		{"in value", "value: ups_battery_runtime_seconds", "value: ups_battery_runtme_seconds",
			`:15: rules[1].value: unknown metric "ups_battery_runtme_seconds" (did you mean ups_battery_runtime_seconds?)`},
		{"inside an aggregation", "count_by(server_psu_ok == 1", "count_by(server_psu_okk == 1",
			`:18: rules[2].expr: unknown metric "server_psu_okk" (did you mean server_psu_ok?)`},
		{"inside a window function", "delta(host_temperature_celsius, 10m)", "delta(host_temperatur_celsius, 10m)",
			`:20: rules[3].expr: unknown metric "host_temperatur_celsius" (did you mean host_temperature_celsius?)`},
		{"a template's metric call", `{{ .Value | humanizeDuration }} left`, `{{ .Value | humanizeDuration }} left, charge {{ metric "ups_battery_charge_precent" }}`,
			`:16: rules[1].summary: unknown metric "ups_battery_charge_precent" (did you mean ups_battery_charge_percent?)`},
		{"a template's metric in a pipeline", `{{ .Value | humanizeDuration }} left`, `{{ .Value | humanizeDuration }} left, {{ "ups_output_lod_percent" | metric }}`,
			`:16: rules[1].summary: unknown metric "ups_output_lod_percent" (did you mean ups_output_load_percent?)`},
		{"a template's metric in a description", "    value: ups_battery_runtime_seconds\n", "    value: ups_battery_runtime_seconds\n    description: '{{ if gt (metric \"ups_battery_charge\") 50.0 }}ok{{ end }}'\n",
			`:16: rules[1].description: unknown metric "ups_battery_charge" (did you mean ups_battery_charge_percent?)`},
		{"a name like no other: no suggestion", "expr: ups_on_battery == 1", "expr: frobnication_level == 1",
			`:13: rules[1].expr: unknown metric "frobnication_level"` + "\n"},
		{"in a rule file", "rules:\n", fmt.Sprintf("rule_files: [%s]\nrules:\n", writeIn(t, dir, "extra.yaml", "rules:\n  - name: X\n    expr: raid_degradd == 1\n")),
			filepath.Join(dir, "extra.yaml") + `:3: rules[0].expr: unknown metric "raid_degradd" (did you mean raid_degraded?)`},
	}
	checkEdits(t, namesBase, cases)
}

// A redundancy group's healthy: condition is checked like a rule's.
func TestCheckUnknownMetricInRedundancy(t *testing.T) {
	base := namesBase + "redundancy:\n  - name: ups-main\n    members: {class: exec}\n    healthy: ups_on_battery == 0 && ups_alarms_active == 0\n    need: 1\n"
	line := strings.Count(namesBase, "\n") + 4
	checkEdits(t, base, []checkEdit{
		{"healthy", "&& ups_alarms_active == 0", "&& ups_alarm_active == 0",
			fmt.Sprintf(`:%d: redundancy[0].healthy: unknown metric "ups_alarm_active" (did you mean ups_alarms_active?)`, line)},
	})
}

// Every problem is printed at once, names among them.
func TestCheckUnknownMetricsAllAtOnce(t *testing.T) {
	bad := strings.Replace(namesBase, "ups_on_battery == 1", "ups_on_batery == 1", 1)
	bad = strings.Replace(bad, "server_psu_ok", "server_psu_okk", 1)
	bad = strings.Replace(bad, "interval: 10s", "interval: ten", 1)
	p := writeIn(t, t.TempDir(), "bad.yaml", bad)
	code, _, errs := runCLI(t, "check", "--config", p)
	if code != 1 || strings.Count(errs, p+":") != 3 || strings.Count(errs, "unknown metric") != 2 {
		t.Fatalf("exit %d, want 1 and three problems (two names):\n%s", code, errs)
	}
}

// An exec target in prometheus format prints names only its program
// knows: without exec.metrics: an unknown name is a warning naming it;
// with them, those names are known and a misspelling is an error again.
func TestCheckExecPrometheusNames(t *testing.T) {
	prom := strings.Replace(namesBase, "format: nagios", "format: prometheus", 1)
	prom = strings.Replace(prom, "expr: check_status >= 2", "expr: myapp_queue_depth > 100", 1)
	t.Run("undeclared: a warning", func(t *testing.T) {
		p := writeIn(t, t.TempDir(), "v.yaml", prom)
		code, out, errs := runCLI(t, "check", "--config", p)
		want := `warning: ` + p + `:11: rules[0].expr: unknown metric "myapp_queue_depth": no collector emits it, unless exec target cmd prints it`
		if code != 0 || !strings.Contains(errs, want) || !strings.Contains(out, "OK") {
			t.Fatalf("exit %d, want 0 and\n  %s\ngot\n%s%s", code, want, out, errs)
		}
	})
	declared := strings.Replace(prom, "      format: prometheus\n", "      format: prometheus\n      metrics: [myapp_queue_depth]\n", 1)
	checkEdits(t, declared, []checkEdit{
		{"declared: a misspelling is an error", "expr: myapp_queue_depth > 100", "expr: myapp_queue_dept > 100",
			`:12: rules[0].expr: unknown metric "myapp_queue_dept" (did you mean myapp_queue_depth?)`},
		{"metrics: on a nagios target", "format: prometheus", "format: nagios",
			`:9: targets[0].exec.metrics: only for format: prometheus`},
		{"a metric name that is no name", "metrics: [myapp_queue_depth]", `metrics: ["myapp-queue"]`,
			`targets[0].exec.metrics[0]: "myapp-queue" is not a metric name`},
	})
	p := writeIn(t, t.TempDir(), "v.yaml", declared)
	if code, out, errs := runCLI(t, "check", "--config", p); code != 0 || strings.Contains(errs, "warning") {
		t.Fatalf("declared names: exit %d, %s%s", code, out, errs)
	}
}

// The shipped rule files hold rules for every kind; a site with only a
// host target loads them all and passes, with a note on the idle ones.
func TestCheckHostOnlyWithShippedRules(t *testing.T) {
	cfg := strings.Replace(checkBase, `  - name: cmd
    kind: exec
    interval: 10s
    exec:
      command: [/bin/true]
      format: nagios
`, "  - name: self\n    kind: host\n    interval: 10s\n", 1)
	cfg = strings.Replace(cfg, "rules:\n", fmt.Sprintf("rule_files: [%s]\nrules:\n", filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "*.yaml")), 1)
	cfg = strings.Replace(cfg, "check_status >= 2", "host_memory_used_ratio > 0.9", 1)
	p := writeIn(t, t.TempDir(), "v.yaml", cfg)
	code, out, errs := runCLI(t, "check", "--config", p)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "OK") || !strings.Contains(out, "note: ") || !strings.Contains(out, "only metrics that no configured target emits") {
		t.Errorf("no OK and note: %s", out)
	}
}

// The daemon builds its generations with build, as check does: a start
// or a reload with a misspelled metric is refused.
func TestBuildRefusesUnknownMetric(t *testing.T) {
	p := writeIn(t, t.TempDir(), "v.yaml", strings.Replace(namesBase, "ups_on_battery == 1", "ups_on_batery == 1", 1))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, errs := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `unknown metric "ups_on_batery" (did you mean ups_on_battery?)`) {
		t.Fatalf("build: %v", errs)
	}
}

// Adding a kind to newKinds without its names would make every rule of it
// "unknown": the two lists hold the same kinds.
func TestCatalogueHasEveryKind(t *testing.T) {
	reg, sk := newKindsWithSNMP(snmp.EmbeddedProfiles())
	cat := newCatalogue(sk)
	want := append(reg.Kinds(), selfKind)
	slices.Sort(want)
	if got := cat.Kinds(); !slices.Equal(got, want) {
		t.Fatalf("catalogue kinds %v, registry kinds %v (+%s)", got, reg.Kinds(), selfKind)
	}
	for _, k := range cat.Kinds() {
		if len(cat.Names(k)) == 0 {
			t.Errorf("kind %s emits no name", k)
		}
	}
}

// The catalogue is honest about the shipped rules: every name a shipped
// rule reads is one some kind emits (a shipped rule that reads nothing
// real would never fire, and check would refuse every config using it).
func TestShippedRulesReadKnownNames(t *testing.T) {
	glob := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "*.yaml")
	p := writeIn(t, t.TempDir(), "v.yaml", strings.Replace(checkBase, "rules:\n", "rule_files: ["+glob+"]\nrules:\n", 1))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, sk := newKindsWithSNMP(snmp.EmbeddedProfiles())
	cat := newCatalogue(sk)
	n := 0
	for _, r := range cfg.Rules {
		for _, u := range rules.MetricsRead(r) {
			n++
			if len(cat.Emitters(u.Name)) == 0 {
				t.Errorf("%s: rule %s reads %q in %s, which no kind emits", r.Origin.File, r.Name, u.Name, u.Field)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d names read by the shipped rules: the test reads the wrong files", n)
	}
}

func writeIn(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The built-in config (no config file) reads only names its targets emit.
func TestBuiltinConfigNamesKnown(t *testing.T) {
	p, errs := build(config.Builtin(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 || len(p.names.warnings) > 0 {
		t.Fatalf("built-in config: %v %v", errs, p.names.warnings)
	}
	if len(config.Builtin().Rules) > 0 && p.names.idle == len(config.Builtin().Rules) {
		t.Errorf("every built-in rule reads names no built-in target emits")
	}
}

// A profile of the config's own profile_dirs brings its names: a rule may
// read them, and a misspelling of one gets it as the suggestion.
func TestCheckNamesFromProfileDirs(t *testing.T) {
	dir := t.TempDir()
	writeIn(t, dir, "chiller.yaml", `name: acme-chiller
mib: ACME-CHILLER-MIB (a test profile)
class: environment
match:
  subtrees: [1.3.6.1.4.1.99999.1]
metrics:
  - name: chiller_supply_water_celsius
    oid: 1.3.6.1.4.1.99999.1.1.0
    scale: 0.1
`)
	base := strings.Replace(namesBase, "rules:\n", fmt.Sprintf("profile_dirs: [%s]\nrules:\n", dir), 1)
	base = strings.Replace(base, "expr: check_status >= 2", "expr: chiller_supply_water_celsius > 12", 1)
	checkEdits(t, base, []checkEdit{
		{"a misspelled profile metric", "chiller_supply_water_celsius > 12", "chiller_suply_water_celsius > 12",
			`:12: rules[0].expr: unknown metric "chiller_suply_water_celsius" (did you mean chiller_supply_water_celsius?)`},
	})
	// Without the profile the name is unknown: the test proves where the
	// name comes from.
	p := writeIn(t, t.TempDir(), "v.yaml", strings.Replace(namesBase, "expr: check_status >= 2", "expr: chiller_supply_water_celsius > 12", 1))
	if code, _, errs := runCLI(t, "check", "--config", p); code != 1 || !strings.Contains(errs, `unknown metric "chiller_supply_water_celsius"`) {
		t.Fatalf("without profile_dirs: exit %d %s", code, errs)
	}
}

// The built-in rules read vedetta's own samples: the catalogue has them
// (the name check skips the built-ins, which no config can misspell).
func TestBuiltinRulesReadCataloguedNames(t *testing.T) {
	_, sk := newKindsWithSNMP(snmp.EmbeddedProfiles())
	cat := newCatalogue(sk)
	for _, r := range rules.BuiltinRules {
		uses := rules.MetricsRead(r)
		if len(uses) == 0 {
			t.Errorf("%s reads no metric", r.Name)
		}
		for _, u := range uses {
			if !slices.Contains(cat.Emitters(u.Name), selfKind) {
				t.Errorf("%s reads %s, which is not among vedetta's own names", r.Name, u.Name)
			}
		}
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// A rule that fails at run time is counted on /metrics and logged at
// warning level (it was a debug line only: a rule that can never fire,
// and nobody told).
func TestE2EBrokenRuleIsCountedAndLogged(t *testing.T) {
	t.Parallel()
	c := newE2EConfig(t, relay(closedPort(t)))
	cfg := strings.Replace(c.yaml(), "    expr: rack_temperature_celsius > 35\n", "    expr: int(rack_temperature_celsius) % int(rack_temperature_celsius - 21) == 0\n", 1)
	path := c.write(t)
	writeFile(t, path, cfg)
	d := startDaemon(t, path, c.HTTPPort)
	testpeer.WaitFor(t, 5*time.Second, "the failure counted on /metrics", func() bool {
		_, m := d.get("/metrics")
		return strings.Contains(m, `vedetta_rule_evaluation_failures_total{rule="RackTooHot"}`)
	})
	warned := 0
	for _, line := range strings.Split(d.proc.Output(), "\n") {
		if strings.Contains(line, `level=WARN msg="rule evaluation failed: this rule cannot fire"`) && strings.Contains(line, "rule=RackTooHot") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings in the log, want 1 (rate-limited):\n%s", warned, d.proc.Output())
	}
}

package authlog

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// authlogCases are configs/rules.d/authlog.yaml's rules on an auth.log the
// collector tails, its failure counter then rising as a password guesser
// would make it.
var authlogCases = []rulestest.Case{
	{Rule: "LoginBruteForce", Fire: rulestest.Ramp("auth_failures_total", 12, "service", "sshd"), HoldToResolve: true,
		Want: "24 failed sshd logins on ssh in 5 minutes, most from 203.0.113.7"},
}

// TestShippedRuleSummaries: every row of authlogCases.
func TestShippedRuleSummaries(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "auth.log")
	f := openAppend(t, logPath)
	h := newHarness(t, fmt.Sprintf("authlog: {path: %q}", logPath))
	h.round() // from the end of the file, as at start
	appendLines(t, f, 0, 5, "203.0.113.7")
	samples := h.round()
	rs := rulestest.Shipped(t, "authlog.yaml")
	for _, c := range authlogCases {
		c.Source, c.Class = "5 failed sshd logins in auth.log", "authlog"
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "ssh", samples, c) })
	}
}

package dispatch

import (
	"io"
	"log/slog"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/rules"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// compile compiles rules as a config would (severity warning by default).
func compile(t *testing.T, rs ...config.Rule) []*rules.Rule {
	t.Helper()
	cfg := &config.Config{Rules: rs}
	for i := range cfg.Rules {
		if cfg.Rules[i].Severity == "" {
			cfg.Rules[i].Severity = "warning"
		}
	}
	out, errs := rules.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return out
}

package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/notify"
)

// echoProvider is a whole SMS provider kind: its options, their checks, its
// New. Registering it is one line (in newSMSKinds; here, the test's own).
type echoConfig struct {
	Prefix string `yaml:"prefix"`
}

type echoProvider struct {
	name string
	cfg  echoConfig
	sent []string
}

func newEcho(name string, cfg echoConfig, _ *slog.Logger) (*echoProvider, error) {
	if cfg.Prefix == "" {
		return nil, config.Problem("prefix", "required")
	}
	return &echoProvider{name: name, cfg: cfg}, nil
}

func (e *echoProvider) Name() string { return e.name }
func (e *echoProvider) Send(_ context.Context, m notify.Message) error {
	e.sent = append(e.sent, e.cfg.Prefix+m.Subject)
	return nil
}

// Adding a notifier is one package and one registry line: the provider's
// block is decoded strictly into its own options, and its problems land at
// their file and line.
func TestAddingAnSMSProviderIsOneLine(t *testing.T) {
	kinds := newSMSKinds()
	kinds["echo"] = notify.Kind(newEcho) // the one line
	write := func(block string) *config.Config {
		t.Helper()
		p := filepath.Join(t.TempDir(), "v.yaml")
		y := strings.Replace(checkBase, "    relays: [{host: 127.0.0.1, port: 25}]\n",
			"    relays: [{host: 127.0.0.1, port: 25}]\n  sms:\n    providers:\n      - name: e\n        echo: "+block+"\n", 1)
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	chans, errs := buildChannels(write("{prefix: 'sms: '}"), kinds, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, err := chans["sms"].Notify(context.Background(), notify.Message{Subject: "UPS on battery"}); err != nil {
		t.Fatal(err)
	}
	p := chans["sms"].(*notify.Failover).Providers[0].(*echoProvider)
	if len(p.sent) != 1 || p.sent[0] != "sms: UPS on battery" {
		t.Fatalf("sent %v", p.sent)
	}
	for block, want := range map[string]string{
		"{prefx: x}": `:19: notify.sms.providers[0].echo.prefx: unknown field "prefx" (did you mean "prefix"?)`,
		"{}":         `notify.sms.providers[0].echo.prefix: required`,
	} {
		_, errs := buildChannels(write(block), kinds, slog.New(slog.DiscardHandler))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: errors %v, want %q", block, errs, want)
		}
	}
}

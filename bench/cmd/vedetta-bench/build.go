package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Peer versions, as issue 6 fixes them.
const (
	snmpExporterVersion = "v0.30.1"
	telegrafVersion     = "v1.37.2"
	alertmanagerVersion = "v0.31.1"
)

// tools are the binaries a run uses; an empty path means "not available"
// and the matching why says what happened.
type tools struct {
	vedetta, sim                     string
	exporter, telegraf, alertmanager string
	exporterWhy, telegrafWhy, amWhy  string
	snmpbulkwalk                     string
	goVersion                        string
}

// goEnv is the environment of every go command: never download a toolchain.
var goEnv = []string{"GOTOOLCHAIN=local", "CGO_ENABLED=0"}

// buildOurs builds vedetta and vedetta-sim from the checkout (always, so
// the numbers are this tree's).
func buildOurs(ctx context.Context, o *options, t *tools) error {
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&t.vedetta, "./cmd/vedetta"}, {&t.sim, "./cmd/vedetta-sim"}} {
		out := filepath.Join(o.work, filepath.Base(b.pkg))
		r := runCmd(ctx, 10*time.Minute, o.repo, goEnv, "go", "build", "-o", out, b.pkg)
		if r.exitError != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, r.exitError, r.out)
		}
		*b.dst = out
	}
	r := runCmd(ctx, time.Minute, o.repo, goEnv, "go", "version")
	t.goVersion = strings.TrimSpace(strings.TrimPrefix(r.out, "go version "))
	return nil
}

// buildPeers builds snmp_exporter, Telegraf and Alertmanager from the Go
// module proxy into o.toolsDir (kept between runs). A peer that cannot be
// built is reported as such; the run goes on without it.
func buildPeers(ctx context.Context, o *options, t *tools) {
	if err := os.MkdirAll(o.toolsDir, 0o755); err != nil {
		t.exporterWhy, t.telegrafWhy, t.amWhy = err.Error(), err.Error(), err.Error()
		return
	}
	env := append([]string{"GOBIN=" + o.toolsDir}, goEnv...)
	t.exporter, t.exporterWhy = cached(o, "snmp_exporter", snmpExporterVersion, func() error {
		dir := filepath.Join(o.toolsDir, "src", "snmp_exporter")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// `go install ...@v0.30.1` is refused (its go.mod has replace
		// directives), so build it through a module that requires it.
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module benchtools/snmpexporter\n\ngo 1.26\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "tools.go"), []byte("//go:build tools\n\npackage tools\n\nimport _ \"github.com/prometheus/snmp_exporter\"\n"), 0o644); err != nil {
			return err
		}
		steps := [][]string{
			{"go", "get", "github.com/prometheus/snmp_exporter@" + snmpExporterVersion},
			{"go", "mod", "tidy"},
			{"go", "build", "-o", filepath.Join(o.toolsDir, "snmp_exporter"), "github.com/prometheus/snmp_exporter"},
		}
		for _, s := range steps {
			if r := runCmd(ctx, 15*time.Minute, dir, goEnv, s[0], s[1:]...); r.exitError != nil {
				return fmt.Errorf("%s: %v: %s", strings.Join(s, " "), r.exitError, tail(r.out, 400))
			}
		}
		return nil
	})
	t.alertmanager, t.amWhy = cached(o, "alertmanager", alertmanagerVersion, func() error {
		r := runCmd(ctx, 15*time.Minute, o.toolsDir, env, "go", "install", "github.com/prometheus/alertmanager/cmd/alertmanager@"+alertmanagerVersion)
		if r.exitError != nil {
			return fmt.Errorf("go install alertmanager: %v: %s", r.exitError, tail(r.out, 400))
		}
		return nil
	})
	t.telegraf, t.telegrafWhy = cached(o, "telegraf", telegrafVersion, func() error {
		r := runCmd(ctx, 20*time.Minute, o.toolsDir, env, "go", "install", "-tags", "custom,inputs.snmp,outputs.discard",
			"github.com/influxdata/telegraf/cmd/telegraf@"+telegrafVersion)
		if r.exitError != nil {
			return fmt.Errorf("go install telegraf: %v: %s", r.exitError, tail(r.out, 400))
		}
		return nil
	})
}

// cached returns toolsDir/name when it is there and was built from
// version (recorded by `go version -m`), else builds it.
func cached(o *options, name, version string, build func() error) (string, string) {
	bin := filepath.Join(o.toolsDir, name)
	if binVersion(bin) == version {
		return bin, ""
	}
	slog.Info("building peer (cached in $BENCH_TOOLS for the next runs)", "peer", name, "version", version, "dir", o.toolsDir)
	start := time.Now()
	if err := build(); err != nil {
		slog.Warn("peer not built", "peer", name, "err", err)
		return "", "not built: " + firstLine(err.Error())
	}
	if v := binVersion(bin); v != version {
		return "", fmt.Sprintf("built %s but it reports version %q", name, v)
	}
	slog.Info("peer built", "peer", name, "took", time.Since(start).Round(time.Second))
	return bin, ""
}

// binVersion is the main module's version in a Go binary's build info
// ("" when the binary is missing).
func binVersion(bin string) string {
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	r := runCmd(context.Background(), time.Minute, "", goEnv, "go", "version", "-m", bin)
	for _, l := range strings.Split(r.out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "mod" {
			return f[2]
		}
		if len(f) >= 3 && f[0] == "dep" && strings.HasSuffix(bin, "snmp_exporter") && f[1] == "github.com/prometheus/snmp_exporter" {
			return f[2]
		}
	}
	return ""
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Package exec runs a command per round and turns its output into samples,
// so the thousands of existing Nagios plugins and any script printing
// Prometheus text can feed vedetta's rules.
//
// Config:
//
//   - name: ping-core
//     kind: exec
//     interval: 10s
//     exec:
//     command: ["/usr/lib/nagios/plugins/check_ping", "-H", "127.0.0.1", "-w", "10,10%", "-c", "20,20%"]
//     format: nagios        # nagios | prometheus
//     timeout: 5s           # default: the target's timeout
//     env: {LC_ALL: C}
//
// format: nagios emits
//
//	check_status               exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
//	check_perfdata{label,uom}  each perfdata value, in base units (ms→s, KB→bytes...)
//	check_perfdata_warning, check_perfdata_critical  simple numeric thresholds when given
//
// format: prometheus parses the text exposition format (expfmt); every gauge,
// counter and untyped value becomes a sample with its labels; summaries and
// histograms are flattened into _sum, _count, {quantile} and _bucket{le}.
// A NaN value is no sample; ±Inf are kept (the format allows them). Nagios
// perfdata that is not a finite number ("U", NaN, Inf, or too big once in
// base units) is no sample either.
// A non-zero exit in prometheus format is an error (the output is still used).
// Its names are the program's own: `metrics: [name, ...]` lists the ones
// rules read, so that `vedetta check` knows them (names.go).
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// Options is the `exec:` block of a target.
type Options struct {
	Command []string          `yaml:"command"`
	Format  string            `yaml:"format"`
	Timeout time.Duration     `yaml:"timeout"`
	Env     map[string]string `yaml:"env"`
	// Metrics names what a prometheus-format program prints that rules
	// read (names.go): `vedetta check` then knows them.
	Metrics []string `yaml:"metrics"`
}

type collector struct {
	opts    Options
	timeout time.Duration
}

// maxOutput bounds what one run may print; a runaway script must not eat
// the daemon's memory.
const maxOutput = 4 << 20

// New is the exec collector's factory.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var cfg struct {
		Exec Options `yaml:"exec"`
	}
	if err := decode(&cfg); err != nil {
		return nil, err
	}
	o := cfg.Exec
	if len(o.Command) == 0 || o.Command[0] == "" {
		return nil, config.Problem("exec.command", "give the program and its arguments as a list")
	}
	if !filepath.IsAbs(o.Command[0]) && strings.Contains(o.Command[0], "/") {
		o.Command[0] = filepath.Join(spec.BaseDir, o.Command[0])
	}
	switch o.Format {
	case "":
		o.Format = "nagios"
	case "nagios", "prometheus":
	default:
		return nil, config.Problem("exec.format", "want nagios or prometheus, got %q", o.Format)
	}
	if err := checkMetrics(o); err != nil {
		return nil, err
	}
	t := o.Timeout
	if t == 0 || t > spec.Timeout {
		t = spec.Timeout
	}
	return &collector{opts: o, timeout: t}, nil
}

func (c *collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, c.opts.Command[0], c.opts.Command[1:]...)
	// Kill the whole process group: plugins often fork helpers (ping, ssh)
	// that would otherwise outlive the deadline and hold the pipes open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Env = os.Environ()
	for k, v := range c.opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb limitedBuffer
	out.max, errb.max = maxOutput, 64<<10
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s did not finish within %v", c.opts.Command[0], c.timeout)
	}
	code := 0
	var ee *osexec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		return fmt.Errorf("run %s: %w", c.opts.Command[0], runErr)
	}
	if c.opts.Format == "prometheus" {
		if err := parsePrometheus(out.Bytes(), emit); err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited %d: %s", c.opts.Command[0], code, firstLine(errb.String()))
		}
		return nil
	}
	if code > 3 || code < 0 {
		// Outside the plugin API: report it as UNKNOWN, as Nagios does.
		emit(model.Sample{Name: "check_status", Value: 3})
		return fmt.Errorf("%s exited %d (not a plugin status): %s", c.opts.Command[0], code, firstLine(out.String()+errb.String()))
	}
	emit(model.Sample{Name: "check_status", Value: float64(code)})
	parseNagiosPerfdata(out.String(), emit)
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil // drop the rest, keep the child from blocking
	}
	return b.Buffer.Write(p)
}

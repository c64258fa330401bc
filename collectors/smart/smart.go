package smart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `smart:` block of a target.
type Options struct {
	// Smartctl is the program to run (default /usr/sbin/smartctl).
	Smartctl string `yaml:"smartctl"`
	// Wrapper is put in front of smartctl, e.g. [sudo, -n].
	Wrapper []string `yaml:"wrapper"`
	// Devices to read; empty means `smartctl --scan-open`.
	Devices []Device `yaml:"devices"`
	// ExtraArgs are appended before the device (e.g. [--nocheck=standby]).
	ExtraArgs []string `yaml:"extra_args"`
}

type options struct {
	Smart Options `yaml:"smart"`
}

// Device is a device path with an optional smartctl -d type. In YAML it is
// either "/dev/sda" or {name: /dev/bus/0, type: "megaraid,1"}.
type Device struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// UnmarshalYAML accepts a plain string or a {name, type} mapping.
func (d *Device) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		d.Name = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("device %s: expected a single value", k)
			}
			switch k {
			case "name":
				d.Name = v.Value
			case "type":
				d.Type = v.Value
			default:
				return fmt.Errorf("device: unknown field %q (known: name, type)", k)
			}
		}
	default:
		return fmt.Errorf("device: expected a path or {name, type}")
	}
	if d.Name == "" {
		return fmt.Errorf("device: empty name")
	}
	return nil
}

// Collector runs smartctl for every device.
type Collector struct {
	opts Options
	log  *slog.Logger
}

// New builds a smart collector; it does not run smartctl.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var c options
	if err := decode(&c); err != nil {
		return nil, err
	}
	o := c.Smart
	if o.Smartctl == "" {
		o.Smartctl = "/usr/sbin/smartctl"
	}
	if strings.ContainsAny(o.Smartctl, "/") && !filepath.IsAbs(o.Smartctl) {
		o.Smartctl = filepath.Join(spec.BaseDir, o.Smartctl)
	}
	for i, d := range o.Devices {
		if d.Name == "" {
			return nil, config.Problem(fmt.Sprintf("smart.devices[%d]", i), "empty device name")
		}
	}
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Collector{opts: o, log: log}, nil
}

// Exit-status bits of smartctl (man smartctl, EXIT STATUS).
var exitBits = [8]string{
	"command_line_error",      // 1: command line did not parse / device type unknown
	"open_failed",             // 2: device open failed or low-power mode
	"command_failed",          // 4: a SMART or ATA command failed, or checksum error
	"disk_failing",            // 8: SMART status says DISK FAILING
	"prefail_below_threshold", // 16: a prefail attribute is at or below its threshold
	"past_below_threshold",    // 32: an attribute was at or below its threshold in the past
	"error_log_has_errors",    // 64: the device error log has records
	"selftest_log_has_errors", // 128: the self-test log has errors
}

// Collect scans (if needed) and reads every device.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	devs := c.opts.Devices
	if len(devs) == 0 {
		var err error
		devs, err = c.scan(ctx)
		if err != nil {
			return err
		}
		emit(model.Sample{Name: "disk_scan_devices", Value: float64(len(devs))})
	}
	var errs []error
	for _, d := range devs {
		if err := c.readDevice(ctx, d, emit); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func (c *Collector) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.opts.Wrapper...), c.opts.Smartctl)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run returns stdout and smartctl's exit code; err is set only when the
// program could not be run at all (not found, killed, timed out).
func (c *Collector) run(ctx context.Context, args ...string) ([]byte, int, error) {
	cmd := c.command(ctx, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.Bytes(), 0, nil
	case ctx.Err() != nil:
		return nil, -1, fmt.Errorf("%s: %w", c.opts.Smartctl, ctx.Err())
	case errors.As(err, &ee) && ee.Exited():
		return out.Bytes(), ee.ExitCode(), nil
	default:
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, -1, fmt.Errorf("%s: %v: %s", c.opts.Smartctl, err, msg)
		}
		return nil, -1, fmt.Errorf("%s: %v", c.opts.Smartctl, err)
	}
}

func (c *Collector) scan(ctx context.Context) ([]Device, error) {
	out, code, err := c.run(ctx, "--scan-open", "--json=c")
	if err != nil {
		return nil, err
	}
	var r struct {
		Smartctl smartctlInfo `json:"smartctl"`
		Devices  []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("smartctl --scan-open (exit %d): bad JSON: %v", code, err)
	}
	if code&3 != 0 {
		return nil, fmt.Errorf("smartctl --scan-open failed (exit %d): %s", code, r.Smartctl.message())
	}
	devs := make([]Device, 0, len(r.Devices))
	for _, d := range r.Devices {
		if d.Name != "" {
			devs = append(devs, Device{Name: d.Name, Type: d.Type})
		}
	}
	return devs, nil
}

func (c *Collector) readDevice(ctx context.Context, d Device, emit func(model.Sample)) error {
	args := []string{"--json=c", "--info", "--health", "--attributes", "--log=error"}
	if d.Type != "" {
		args = append(args, "-d", d.Type)
	}
	args = append(args, c.opts.ExtraArgs...)
	args = append(args, d.Name)
	out, code, err := c.run(ctx, args...)
	if err != nil {
		emit(model.Sample{Name: "disk_readable", Labels: model.L("device", d.Name), Value: 0})
		return err
	}
	samples, perr := Parse(out, code, d.Name)
	for _, s := range samples {
		emit(s)
	}
	return perr
}

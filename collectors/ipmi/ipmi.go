package ipmi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `ipmi:` block of a target.
type Options struct {
	// Address of the BMC, HOST[:PORT] (port 623 by default).
	Address  string        `yaml:"address"`
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"` // or password_file
	// Interface: lanplus (IPMI 2.0 RMCP+, default) or lan (IPMI 1.5).
	Interface string `yaml:"interface"`
	// CipherSuite for lanplus (default 3, see README.md).
	CipherSuite *int `yaml:"cipher_suite"`
	// Privilege of the session: user (default), operator, administrator.
	Privilege string `yaml:"privilege"`
	// Ipmitool is the program to run (default: ipmitool on PATH).
	Ipmitool string `yaml:"ipmitool"`
	// SELNewest is how many of the newest event log entries are logged
	// when the log grows (default 3, 0: none).
	SELNewest *int `yaml:"sel_newest"`
}

type options struct {
	IPMI Options `yaml:"ipmi"`
}

// DefaultCipherSuite: 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the
// suite every IPMI 2.0 BMC offers; naming one also spares the "Get Channel
// Cipher Suites" round trip, which some BMCs (and ipmi_sim) do not answer,
// costing ipmitool seconds per session. BMCs that offer 17 (SHA-256)
// should be given cipher_suite: 17.
const DefaultCipherSuite = 3

// Collector reads one BMC with ipmitool: the sensors, then the SEL.
type Collector struct {
	opts Options
	host string
	port string
	log  *slog.Logger
	// sem lets one ipmitool at a time talk to this BMC (a BMC has few
	// session slots; an API-triggered round must not overlap the
	// scheduled one). It also guards the fields below.
	sem         chan struct{}
	implausible int
	selSeen     int // entries at the last round; -1 before the first
}

// New validates the options; it does not contact the BMC.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o options
	if err := decode(&o); err != nil {
		return nil, err
	}
	opts := o.IPMI
	if opts.Address == "" {
		return nil, config.Problem("ipmi.address", "required: the BMC's HOST[:PORT]")
	}
	host, port, err := net.SplitHostPort(opts.Address)
	if err != nil {
		// A bare host (or IPv6 address) gets IPMI's port.
		host, port = strings.Trim(opts.Address, "[]"), "623"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
		return nil, config.Problem("ipmi.address", "%q is not HOST[:PORT]", opts.Address)
	}
	switch opts.Interface {
	case "":
		opts.Interface = "lanplus"
	case "lanplus", "lan":
	default:
		return nil, config.Problem("ipmi.interface", "%q is not one of lanplus, lan", opts.Interface)
	}
	if opts.CipherSuite == nil {
		cs := DefaultCipherSuite
		opts.CipherSuite = &cs
	} else if opts.Interface != "lanplus" {
		return nil, config.Problem("ipmi.cipher_suite", "only with interface: lanplus (IPMI 1.5 has no cipher suites)")
	} else if *opts.CipherSuite < 0 || *opts.CipherSuite > 17 {
		return nil, config.Problem("ipmi.cipher_suite", "%d is not an IPMI 2.0 cipher suite (0-17)", *opts.CipherSuite)
	}
	switch opts.Privilege {
	case "":
		opts.Privilege = "user" // reading sensors and the SEL needs no more
	case "user", "operator", "administrator":
	default:
		return nil, config.Problem("ipmi.privilege", "%q is not one of user, operator, administrator", opts.Privilege)
	}
	if opts.Ipmitool == "" {
		opts.Ipmitool = "ipmitool"
	} else if strings.Contains(opts.Ipmitool, "/") && !filepath.IsAbs(opts.Ipmitool) {
		opts.Ipmitool = filepath.Join(spec.BaseDir, opts.Ipmitool)
	}
	if opts.SELNewest == nil {
		n := 3
		opts.SELNewest = &n
	} else if *opts.SELNewest < 0 || *opts.SELNewest > 100 {
		return nil, config.Problem("ipmi.sel_newest", "%d is not between 0 and 100", *opts.SELNewest)
	}
	if opts.Password != "" && opts.Username == "" {
		return nil, config.Problem("ipmi.username", "a password without a username: give both, or neither for an anonymous BMC user")
	}
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Collector{
		opts: opts, host: host, port: port,
		log:     log,
		sem:     make(chan struct{}, 1),
		selSeen: -1,
	}, nil
}

// Collect reads the sensors and the event log.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return fmt.Errorf("ipmi %s: a previous collection still runs: %w", c.opts.Address, ctx.Err())
	}
	out, exited, err := c.run(ctx, true, "sdr", "elist")
	if err != nil && !exited {
		return err
	}
	sensors, perr := ParseSDR(out)
	if err != nil {
		// ipmitool exits 1 when one record could not be read, after
		// printing all the others: those are the BMC's answer.
		if len(sensors) == 0 {
			return err
		}
		c.log.Debug("ipmitool printed sensors but exited non-zero", "err", err)
	}
	if len(sensors) == 0 {
		if perr != nil {
			return fmt.Errorf("ipmi %s: %v", c.opts.Address, perr)
		}
		return fmt.Errorf("ipmi %s: no sensor records in ipmitool's answer", c.opts.Address)
	}
	samples, dropped := Normalize(sensors)
	for _, s := range samples {
		emit(s)
	}
	for _, d := range dropped {
		c.implausible++
		c.log.Warn("implausible sensor reading dropped", "sensor", d.Sensor, "metric", d.Metric, "value", d.Value)
	}
	emit(model.Sample{Name: "server_sensors", Value: float64(len(sensors))})
	emit(model.Sample{Name: "server_sensor_implausible_total", Value: float64(c.implausible)})
	if perr != nil {
		return fmt.Errorf("ipmi %s: %v", c.opts.Address, perr)
	}
	return c.readSEL(ctx, emit)
}

// readSEL emits the event log's size and logs its newest entries when it
// grew. A BMC that answers sensors but not the SEL is read in part
// (server_sel_readable 0), not unreachable; running out of time is an
// error.
func (c *Collector) readSEL(ctx context.Context, emit func(model.Sample)) error {
	out, _, err := c.run(ctx, false, "sel", "info")
	var info SELInfo
	if err == nil {
		info, err = ParseSELInfo(out)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		c.log.Warn("event log not readable", "err", err)
		emit(model.Sample{Name: "server_sel_readable", Value: 0})
		return nil
	}
	emit(model.Sample{Name: "server_sel_readable", Value: 1})
	emit(model.Sample{Name: "server_sel_entries", Value: float64(info.Entries)})
	if info.PercentUsed >= 0 {
		emit(model.Sample{Name: "server_sel_used_ratio", Value: info.PercentUsed / 100})
	}
	if info.HasOverflow {
		emit(model.Sample{Name: "server_sel_overflow", Value: b2f(info.Overflow)})
	}
	grew := info.Entries - c.selSeen
	if c.selSeen < 0 || grew < 0 {
		grew = 0 // first round, or the log was cleared: nothing is news
	}
	c.selSeen = info.Entries
	if n := min(grew, *c.opts.SELNewest); n > 0 {
		out, _, err := c.run(ctx, false, "sel", "list", "last", strconv.Itoa(n))
		if err != nil {
			c.log.Warn("newest event log entries not readable", "err", err)
			return nil
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line = cleanN(line, 200); line != "" {
				c.log.Info("BMC event log entry", "entry", line)
			}
		}
	}
	return nil
}

// run runs one ipmitool command against the BMC and returns what it
// printed. The password goes in the environment (-E reads IPMI_PASSWORD),
// never on the command line that ps shows. verbose adds -v, which sdr
// needs for sensor types and which makes ipmitool say why a session
// failed. exited is true when ipmitool ran to its end but with a non-zero
// status (err says why); out is then what it printed all the same.
func (c *Collector) run(ctx context.Context, verbose bool, args ...string) (out []byte, exited bool, err error) {
	argv := []string{"-I", c.opts.Interface}
	if verbose {
		argv = append([]string{"-v"}, argv...)
	}
	if c.opts.Interface == "lanplus" {
		argv = append(argv, "-C", strconv.Itoa(*c.opts.CipherSuite))
	}
	argv = append(argv, "-H", c.host, "-p", c.port, "-L", strings.ToUpper(c.opts.Privilege),
		// 1 s between retransmissions, 2 retries: a BMC that is there
		// answers in milliseconds; the context's deadline bounds the rest.
		"-N", "1", "-R", "2")
	if c.opts.Username != "" {
		argv = append(argv, "-U", c.opts.Username)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if c.opts.Password != "" {
		argv = append(argv, "-E")
		env = append(env, "IPMI_PASSWORD="+c.opts.Password.Reveal())
	}
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, c.opts.Ipmitool, argv...)
	cmd.Env = env
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitWriter{w: &stderr, n: 64 << 10}
	start := time.Now()
	err = cmd.Run()
	if err == nil {
		return stdout.Bytes(), false, nil
	}
	var ee *exec.ExitError
	exited = ctx.Err() == nil && errors.As(err, &ee) && ee.Exited()
	return stdout.Bytes(), exited, c.explain(ctx, err, stderr.String(), time.Since(start), strings.Join(args, " "))
}

// explain turns a failed ipmitool run into a short error that says the
// cause: the scheduler logs it and TargetUnreachable carries it.
func (c *Collector) explain(ctx context.Context, err error, stderr string, took time.Duration, what string) error {
	prefix := "ipmi " + c.opts.Address + ": "
	secs := took.Round(100 * time.Millisecond) // "1.5s", "6.1s"
	var ee *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s%s not found (install the ipmitool package)", prefix, c.opts.Ipmitool)
	case ctx.Err() != nil:
		return fmt.Errorf("%sno answer within %v", prefix, secs)
	case !errors.As(err, &ee):
		return fmt.Errorf("%s%s: %v", prefix, c.opts.Ipmitool, err)
	}
	for _, k := range causes {
		if strings.Contains(stderr, k.text) {
			if k.cipher {
				return fmt.Errorf("%scipher suite %d refused by the BMC (try cipher_suite: 3)", prefix, *c.opts.CipherSuite)
			}
			if k.timing {
				return fmt.Errorf("%s%s %v", prefix, k.cause, secs)
			}
			return errors.New(prefix + k.cause)
		}
	}
	// Unknown: ipmitool's last words, short.
	last := ""
	for _, l := range strings.Split(stderr, "\n") {
		if l = clean(l); l != "" && !strings.HasPrefix(l, "Loading IANA") {
			last = l
		}
	}
	if last == "" {
		last = ee.String()
	}
	return fmt.Errorf("%sipmitool %s: %s", prefix, what, last)
}

// causes maps what ipmitool -v prints to stderr to what happened, first
// match wins (checked against ipmi_sim and ipmitool 1.8.19, except
// "unauthorized role", ipmitool's RMCP+ status text for the same refusal).
// Not "Insufficient privilege level": -v prints it for an OEM probe in
// sessions that work.
var causes = []struct {
	text, cause string
	timing      bool // the cause ends with how long ipmitool waited
	cipher      bool // the cause is the cipher suite
}{
	{text: "invalid authentication algorithm", cipher: true},
	{text: "invalid integrity algorithm", cipher: true},
	{text: "invalid confidentiality algorithm", cipher: true},
	{text: "privilege level exceeds", cause: "privilege level refused by the BMC"},
	{text: "unauthorized role or privilege level", cause: "privilege level refused by the BMC"},
	{text: "RAKP 2 HMAC is invalid", cause: "authentication failed (wrong password)"},
	{text: "unauthorized name", cause: "authentication failed (unknown user)"},
	{text: "RAKP 2 message indicates an error", cause: "authentication failed"},
	{text: "Activate Session command failed", cause: "authentication failed"},
	{text: "Get Auth Capabilities", cause: "no answer within", timing: true},
	{text: "Get Channel Authentication Capabilities", cause: "no answer within", timing: true},
	{text: "No response from remote controller", cause: "no answer within", timing: true},
	{text: "Unable to establish", cause: "no session with the BMC (it refused or did not answer)"},
}

// limitWriter keeps the first n bytes: a babbling subprocess must not
// fill memory.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

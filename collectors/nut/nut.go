package nut

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/tlsconf"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `nut:` block of a target.
type Options struct {
	// Address of upsd, host:port (default 127.0.0.1:3493).
	Address string `yaml:"address"`
	// UPS to read; empty means every UPS upsd lists.
	UPS      string        `yaml:"ups"`
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// TLS: auto (STARTTLS when upsd offers it, default), required, off.
	TLS                string `yaml:"tls"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

type options struct {
	NUT Options `yaml:"nut"`
}

// Collector reads every variable of one or all UPSes from upsd.
type Collector struct {
	opts Options
	tls  *tls.Config
	log  *slog.Logger
}

// New validates the options; it does not contact upsd.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o options
	if err := decode(&o); err != nil {
		return nil, err
	}
	opts := o.NUT
	if opts.Address == "" {
		opts.Address = "127.0.0.1:3493"
	}
	host, _, err := net.SplitHostPort(opts.Address)
	if err != nil {
		// A bare host gets NUT's port.
		host = opts.Address
		opts.Address = net.JoinHostPort(host, "3493")
	}
	switch opts.TLS {
	case "":
		opts.TLS = "auto"
	case "auto", "required", "off":
	default:
		return nil, config.Problem("nut.tls", "%q is not one of auto, required, off", opts.TLS)
	}
	if (opts.Username == "") != (opts.Password == "") {
		return nil, config.Problem("nut", "give both username and password (or password_file), or neither")
	}
	serverName := host
	if opts.ServerName != "" {
		serverName = opts.ServerName
	}
	tc, err := tlsconf.Client(serverName, opts.CAFile, spec.BaseDir, opts.InsecureSkipVerify)
	if err != nil {
		return nil, config.Problem("nut.ca_file", "%v", err)
	}
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Collector{opts: opts, tls: tc, log: log}, nil
}

// Collect opens one session, reads the UPSes and logs out.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	cn, err := dial(ctx, c.opts.Address)
	if err != nil {
		return fmt.Errorf("upsd %s: %w", c.opts.Address, err)
	}
	defer cn.Close()
	if c.opts.TLS != "off" {
		offered, err := cn.startTLS(ctx, c.tls)
		if err != nil {
			return err
		}
		if !offered && c.opts.TLS == "required" {
			return fmt.Errorf("upsd %s does not offer STARTTLS and nut.tls is required", c.opts.Address)
		}
		emit(model.Sample{Name: "nut_tls", Value: b2f(offered)})
	}
	if c.opts.Username != "" {
		if _, err := cn.simple("USERNAME "+quote(c.opts.Username), "USERNAME"); err != nil {
			return err
		}
		if _, err := cn.simple("PASSWORD "+quote(c.opts.Password.Reveal()), "PASSWORD"); err != nil {
			return err
		}
	}
	names := []string{c.opts.UPS}
	if c.opts.UPS == "" {
		items, err := cn.list("UPS")
		if err != nil {
			return err
		}
		names = names[:0]
		for _, it := range items {
			names = append(names, it[0])
		}
		emit(model.Sample{Name: "nut_ups_listed", Value: float64(len(names))})
	}
	var errs []error
	for _, name := range names {
		items, err := cn.list("VAR", name)
		up := model.L("ups", name)
		if err != nil {
			emit(model.Sample{Name: "nut_ups_up", Labels: up, Value: 0})
			errs = append(errs, err)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Line == "" {
				break // the session itself is broken
			}
			continue
		}
		vars := make(map[string]string, len(items))
		for _, it := range items {
			if len(it) >= 3 && it[0] == name {
				vars[it[1]] = it[2]
			}
		}
		if len(vars) == 0 || vars["ups.status"] == "WAIT" {
			// upsd knows the UPS but has had no data from its driver yet
			// (it then lists only ups.status "WAIT").
			emit(model.Sample{Name: "nut_ups_up", Labels: up, Value: 0})
			errs = append(errs, fmt.Errorf("upsd %s: no variables for UPS %s (status WAIT: driver not connected or no data yet)", c.opts.Address, name))
			continue
		}
		emit(model.Sample{Name: "nut_ups_up", Labels: up, Value: 1})
		for _, s := range Map(vars) {
			s.Labels = s.Labels.With("ups", name)
			emit(s)
		}
	}
	if len(errs) == 0 {
		_ = cn.send("LOGOUT")
	}
	return errors.Join(errs...)
}

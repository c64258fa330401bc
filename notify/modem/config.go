package modem

import (
	"log/slog"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Defaults for the zero values of Config.
const (
	DefaultBaud           = 115200
	DefaultCommandTimeout = 5 * time.Second
	DefaultProbeInterval  = 5 * time.Minute
	// SubmitFactor × CommandTimeout bounds the wait for +CMGS after the
	// text was sent: the modem is then waiting for the network.
	SubmitFactor = 6
)

// Config is a GSM modem on a serial port (the modem: block of an SMS
// provider): the path that still works when the
// uplink is down.
type Config struct {
	Device         string        `yaml:"device"`
	Baud           int           `yaml:"baud"`
	PIN            config.Secret `yaml:"pin"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	ProbeInterval  time.Duration `yaml:"probe_interval"`
	// Replies (default true): read the SMS that reach the modem, so that
	// a reply "4a7b ACK" acknowledges, and end every SMS with how to.
	Replies *bool `yaml:"replies"`
}

// ReadsReplies says whether the daemon reads this modem's incoming SMS.
func (p *Provider) ReadsReplies() bool { return p.cfg.Replies == nil || *p.cfg.Replies }

// New makes a provider for the modem on cfg.Device. It does not open the
// port: the first Send or Probe does.
func New(name string, cfg Config, log *slog.Logger) (*Provider, error) {
	if strings.TrimSpace(cfg.Device) == "" {
		return nil, config.Problem("device", "required (the serial port, e.g. /dev/ttyUSB0)")
	}
	if cfg.Baud < 0 || cfg.CommandTimeout < 0 || cfg.ProbeInterval < 0 {
		return nil, config.Problem("", "baud, command_timeout and probe_interval must not be negative")
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("device", cfg.Device) // the caller adds channel and provider
	return &Provider{name: name, cfg: cfg, log: log, sem: make(chan struct{}, 1), incoming: make(chan struct{}, 1)}, nil
}

// Package config loads vedetta's YAML configuration: strictly (unknown keys
// are errors), with ${ENV} expansion and *_file secrets, defaults applied,
// then validated; every problem names the file, the line and the field.
//
// The kind-specific part of a target (snmp:, exec:, profiles:...) is kept as a
// raw node and decoded by the collector that owns it, through Decoder, with
// the same strictness and the same error positions.
package config

import (
	_ "embed"
	"fmt"
	"net"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultPath is read by `vedetta run` when no --config is given.
const DefaultPath = "/etc/vedetta/vedetta.yaml"

// BuiltinName is the file name errors use for the built-in default.
const BuiltinName = "<built-in default>"

//go:embed default.yaml
var builtinYAML []byte

// Config is the whole configuration.
type Config struct {
	Site          string     `yaml:"site"`
	StateDir      string     `yaml:"state_dir"`
	HTTP          HTTP       `yaml:"http"`
	Log           Log        `yaml:"log"`
	MaxConcurrent int        `yaml:"max_concurrent_collections"` // default: DefaultMaxConcurrent
	Targets       []Target   `yaml:"targets"`
	Rules         []Rule     `yaml:"rules"`
	RuleFiles     []string   `yaml:"rule_files"`
	Notify        Notify     `yaml:"notify"`
	Receivers     []Receiver `yaml:"receivers"`
	Routes        []Route    `yaml:"routes"`
	// ProfileDirs add user SNMP device profiles to the embedded ones.
	ProfileDirs []string `yaml:"profile_dirs"`
	// Traps configures the SNMP trap listener (off when nil).
	Traps *Traps `yaml:"traps"`
	// HistoryRetention is how long the history of alarm transitions and
	// notifications is kept (default 7d).
	HistoryRetention time.Duration `yaml:"history_retention"`
	// Silences are recurring maintenance windows.
	Silences []Silence `yaml:"silences"`
	// MemoryLimit is the Go soft memory limit (512MiB, 2GB; memory.go),
	// read at start; empty: 80 % of the cgroup's memory.max, if any.
	MemoryLimit string `yaml:"memory_limit"`
	// Cluster (three nodes in three zones on embedded etcd) is decoded and
	// checked by package cluster, which owns it; nil runs a single node.
	Cluster *yaml.Node `yaml:"cluster"`
	// Schedules are on-call rotations, decoded and checked by package
	// oncall, which owns them; receivers name them (oncall: primary).
	Schedules *yaml.Node `yaml:"schedules"`
	// Redundancy groups (N+1 UPS modules, A/B feeds per rack) are decoded,
	// checked and compiled into rules by package redundancy, which owns
	// them.
	Redundancy *yaml.Node `yaml:"redundancy"`

	// File is the path the config came from, Dir its folder (relative paths
	// in the config are taken against it).
	File string `yaml:"-"`
	Dir  string `yaml:"-"`

	pos map[string]map[string]int // file -> field path -> line
}

// HTTP is the API and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// Token guards write endpoints (token_file reads it from a file).
	Token Secret `yaml:"token"`
	// ExternalURL is how others reach this listener (https://vedetta.example:9750,
	// through a proxy perhaps): Twilio's webhooks are signed over it, so SMS
	// replies are read only when it is set.
	ExternalURL string `yaml:"external_url"`
	// UIAuth says which views of the status page need a login: "writes"
	// (acks, silences; the default on loopback) or "always" (every page;
	// the default when listening on another address).
	UIAuth string `yaml:"ui_auth"`
}

// Log sets the daemon's own logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Origin says where a list item came from, for error messages found after
// loading (an expression that does not compile, a kind nobody registered).
type Origin struct {
	File string
	Path string // e.g. "rules[3]"
}

// Target is one thing to collect from.
type Target struct {
	Name      string            `yaml:"name"`
	Kind      string            `yaml:"kind"`
	Class     string            `yaml:"class"`
	Interval  time.Duration     `yaml:"interval"`
	Timeout   time.Duration     `yaml:"timeout"`
	Labels    map[string]string `yaml:"labels"`
	DependsOn []string          `yaml:"depends_on"`
	// Zone prefers cluster members of this zone to poll the target (a
	// device behind a zone's switches); empty: any member.
	Zone string `yaml:"zone"`
	// Options holds every other key (exec:, snmp:, profiles:...), decoded by
	// the collector of Kind.
	Options *yaml.Node `yaml:",remain"`
	Origin  Origin     `yaml:"-"`
}

// Rule is one alarm definition.
type Rule struct {
	Name  string `yaml:"name"`
	Expr  string `yaml:"expr"`
	Clear string `yaml:"clear"`
	// Value is the expression the alarm reports as .Value (the number in
	// its message); by default the left side of the condition's first
	// comparison that is not a state test (x == 1, x == 0).
	Value       string        `yaml:"value"`
	For         time.Duration `yaml:"for"`
	Severity    string        `yaml:"severity"`
	Summary     string        `yaml:"summary"`
	Description string        `yaml:"description"`
	// Runbook is where to read what to do (a URL, or a line of text); a
	// template like the summary, e.g. https://wiki/runbooks/ups#{{ .Labels.target }}.
	Runbook string            `yaml:"runbook"`
	Labels  map[string]string `yaml:"labels"`
	Origin  Origin            `yaml:"-"`
}

// Notify configures the delivery channels.
type Notify struct {
	Email    *Email    `yaml:"email"`
	SMS      *SMS      `yaml:"sms"`
	Voice    *Voice    `yaml:"voice"`
	Webhooks []Webhook `yaml:"webhooks"`
	// Heartbeat proves to an outside watcher that vedetta itself is alive.
	Heartbeat *Heartbeat `yaml:"heartbeat"`
	// ProbeInterval is how often every provider's health is checked
	// (SMTP EHLO, Twilio account fetch, modem AT+CSQ). Default 5m.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// StartDigest is the window after the process starts during which
	// every notification is held and then sent as one message per
	// receiver and channel (dispatch/digest.go). Default 45s, at most 1m;
	// 0 turns it off.
	StartDigest *time.Duration `yaml:"start_digest"`
}

// DefaultStartDigest is notify.start_digest when the config says nothing.
const DefaultStartDigest = 45 * time.Second

// StartDigestWindow is notify.start_digest with its default.
func (n Notify) StartDigestWindow() time.Duration {
	if n.StartDigest == nil {
		return DefaultStartDigest
	}
	return *n.StartDigest
}

// Email is the e-mail channel: one sender, relays tried in order.
type Email struct {
	From          string        `yaml:"from"`
	SubjectPrefix string        `yaml:"subject_prefix"`
	Timeout       time.Duration `yaml:"timeout"`
	Relays        []Relay       `yaml:"relays"`
}

// Relay is one SMTP server.
type Relay struct {
	Host               string        `yaml:"host"`
	Port               int           `yaml:"port"`
	TLS                string        `yaml:"tls"` // starttls | tls | opportunistic | none
	Username           string        `yaml:"username"`
	Password           Secret        `yaml:"password"`
	CAFile             string        `yaml:"ca_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Timeout            time.Duration `yaml:"timeout"`
}

// Addr is host:port.
func (r Relay) Addr() string { return net.JoinHostPort(r.Host, fmt.Sprint(r.Port)) }

// Receiver is a person or team and how to reach them.
type Receiver struct {
	Name     string   `yaml:"name"`
	Email    []string `yaml:"email"`
	SMS      []string `yaml:"sms"`      // E.164 numbers
	Voice    []string `yaml:"voice"`    // E.164 numbers called on the voice channel
	Webhooks []string `yaml:"webhooks"` // names from notify.webhooks
	// OnCall makes this receiver whoever is on call on that schedule
	// (`schedules:`) when the alarm is notified; Next reaches the person
	// after them in the rotation instead (1: an escalation step's "next in
	// line"). Such a receiver has no contact points of its own.
	OnCall string `yaml:"oncall"`
	Next   int    `yaml:"next"`
}

// Route sends matching alarms to receivers. The first matching route wins
// unless it says continue: true; a route without match matches everything.
type Route struct {
	Match     map[string]string `yaml:"match"`
	Receivers []string          `yaml:"receivers"`
	Channels  []string          `yaml:"channels"`
	Continue  bool              `yaml:"continue"`
	// GroupBy batches the events of alarms sharing these labels that arrive
	// within GroupWait into one message (a switch losing 40 ports is one
	// SMS). Without group_by every alarm is its own message, at once.
	GroupBy   []string      `yaml:"group_by"`
	GroupWait time.Duration `yaml:"group_wait"`
	// Repeat re-notifies a firing, unacknowledged alarm this often (0: never).
	Repeat   time.Duration `yaml:"repeat"`
	Escalate []Escalation  `yaml:"escalate"`
}

// Escalation calls more receivers when an alarm is still firing and
// unacknowledged After its first notification.
type Escalation struct {
	After     time.Duration `yaml:"after"`
	Receivers []string      `yaml:"receivers"`
}

// Silence mutes matching alarms during a recurring window.
type Silence struct {
	Match map[string]string `yaml:"match"`
	// Matchers are LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX, LABEL!~REGEX;
	// with match, all must hold.
	Matchers []string `yaml:"matchers"`
	Schedule string   `yaml:"schedule"` // "Sat 02:00-04:00", "Mon-Fri 22:00-06:00", "daily 03:00-03:30"
	Comment  string   `yaml:"comment"`
}

// Severities, lowest first.
var Severities = []string{"info", "warning", "critical"}

// Channels known to routes. (Every event also goes to the log, always.)
var Channels = []string{"email", "sms", "voice", "webhook"}

// DefaultMaxConcurrent is max_concurrent_collections when the config
// does not set it: 64, or one slot per 16 targets up to 1,024. A slot is
// held while a poll waits on the network, and a dead agent holds it for
// its whole timeout and retries: with 10,000 targets, 5 % dead and 5 %
// slow took 3,959 slot-seconds a round, more than 64 slots have in a
// 60 s interval (vedetta-bench scale). Waiting costs no CPU; what a slot
// bounds is sockets and in-flight buffers.
func DefaultMaxConcurrent(targets int) int {
	return min(max(64, targets/16), 1024)
}

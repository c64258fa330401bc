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
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
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
	MaxConcurrent int        `yaml:"max_concurrent_collections"`
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
	// Silences are recurring maintenance windows.
	Silences []Silence `yaml:"silences"`

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
	// Options holds every other key (exec:, snmp:, profiles:...), decoded by
	// the collector of Kind.
	Options *yaml.Node `yaml:",remain"`
	Origin  Origin     `yaml:"-"`
}

// Rule is one alarm definition.
type Rule struct {
	Name        string            `yaml:"name"`
	Expr        string            `yaml:"expr"`
	Clear       string            `yaml:"clear"`
	For         time.Duration     `yaml:"for"`
	Severity    string            `yaml:"severity"`
	Summary     string            `yaml:"summary"`
	Description string            `yaml:"description"`
	Labels      map[string]string `yaml:"labels"`
	Origin      Origin            `yaml:"-"`
}

// Notify configures the delivery channels.
type Notify struct {
	Email    *Email    `yaml:"email"`
	SMS      *SMS      `yaml:"sms"`
	Webhooks []Webhook `yaml:"webhooks"`
	// Heartbeat proves to an outside watcher that vedetta itself is alive.
	Heartbeat *Heartbeat `yaml:"heartbeat"`
	// ProbeInterval is how often every provider's health is checked
	// (SMTP EHLO, Twilio account fetch, modem AT+CSQ). Default 5m.
	ProbeInterval time.Duration `yaml:"probe_interval"`
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
	Webhooks []string `yaml:"webhooks"` // names from notify.webhooks
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
	Match    map[string]string `yaml:"match"`
	Schedule string            `yaml:"schedule"` // "Sat 02:00-04:00", "Mon-Fri 22:00-06:00", "daily 03:00-03:30"
	Comment  string            `yaml:"comment"`
}

// Severities, lowest first.
var Severities = []string{"info", "warning", "critical"}

// Channels known to routes. (Every event also goes to the log, always.)
var Channels = []string{"email", "sms", "webhook"}

// Load reads path, its rule files, applies defaults and validates. On error
// the returned Config may be partial; the error is *Errors listing every
// problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{List: []FieldError{{File: path, Msg: err.Error()}}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return parse(data, path, filepath.Dir(abs))
}

// Builtin is the configuration `vedetta run` uses when there is no file:
// the host collector on this machine, a handful of host rules, alarms to
// the log.
func Builtin() *Config {
	dir, _ := os.Getwd()
	cfg, err := parse(builtinYAML, BuiltinName, dir)
	if err != nil {
		panic("built-in default config is broken: " + err.Error())
	}
	return cfg
}

// BuiltinYAML returns the text of the built-in default.
func BuiltinYAML() []byte { return append([]byte(nil), builtinYAML...) }

func parse(data []byte, file, dir string) (*Config, error) {
	errs := &Errors{}
	cfg := &Config{File: file, Dir: dir, pos: map[string]map[string]int{}}
	root, ok := parseYAML(data, file, errs)
	if ok {
		d := &decoder{file: file, baseDir: dir, errs: errs, pos: map[string]int{}}
		cfg.pos[file] = d.pos
		d.decode(root, "", reflect_(cfg))
		for i := range cfg.Targets {
			cfg.Targets[i].Origin = Origin{File: file, Path: fmt.Sprintf("targets[%d]", i)}
		}
		for i := range cfg.Rules {
			cfg.Rules[i].Origin = Origin{File: file, Path: fmt.Sprintf("rules[%d]", i)}
		}
		cfg.loadRuleFiles(errs)
	}
	cfg.applyDefaults()
	cfg.validate(errs)
	return cfg, errs.Err()
}

// parseYAML parses one document and expands ${ENV} in every scalar.
func parseYAML(data []byte, file string, errs *Errors) (*yaml.Node, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line := 0
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &line)
		}
		errs.Add(file, line, "", "not valid YAML: "+strings.TrimPrefix(msg, "yaml: "))
		return nil, false
	}
	if root.Kind == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, true // empty file
	}
	expandEnv(&root, file, errs)
	return &root, true
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// envRE matches ${NAME} and ${NAME:-default}. A bare $NAME is left alone so
// that passwords and regexps containing "$" survive.
var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

func expandEnv(n *yaml.Node, file string, errs *Errors) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			sm := envRE.FindStringSubmatch(m)
			if v, ok := os.LookupEnv(sm[1]); ok {
				return v
			}
			if sm[2] != "" {
				return sm[3]
			}
			errs.Add(file, n.Line, "", fmt.Sprintf("environment variable %s is not set (write ${%s:-default} for a fallback)", sm[1], sm[1]))
			return ""
		})
		if n.Tag != "!!str" {
			n.Tag = "" // re-resolve: "${PORT}" may have become a number
		}
	}
	for _, c := range n.Content {
		expandEnv(c, file, errs)
	}
}

type ruleFile struct {
	Rules []Rule `yaml:"rules"`
}

func (c *Config) loadRuleFiles(errs *Errors) {
	for i, pattern := range c.RuleFiles {
		p := pattern
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.Dir, p)
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			errs.Add(c.File, c.Line(c.File, fmt.Sprintf("rule_files[%d]", i)), fmt.Sprintf("rule_files[%d]", i), err.Error())
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				errs.Add(m, 0, "", err.Error())
				continue
			}
			root, ok := parseYAML(data, m, errs)
			if !ok {
				continue
			}
			var rf ruleFile
			d := &decoder{file: m, baseDir: filepath.Dir(m), errs: errs, pos: map[string]int{}}
			c.pos[m] = d.pos
			d.decode(root, "", reflect_(&rf))
			for j := range rf.Rules {
				rf.Rules[j].Origin = Origin{File: m, Path: fmt.Sprintf("rules[%d]", j)}
			}
			c.Rules = append(c.Rules, rf.Rules...)
		}
	}
}

// Line returns the line of a field path in file, or 0.
func (c *Config) Line(file, path string) int {
	for p := path; p != ""; {
		if l, ok := c.pos[file][p]; ok {
			return l
		}
		// Fall back to the closest parent that has a line.
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// ErrAt builds an error for field (relative to the item at o).
func (c *Config) ErrAt(o Origin, field, msg string) FieldError {
	path := o.Path
	if field != "" {
		path = join(path, field)
	}
	return FieldError{File: o.File, Line: c.Line(o.File, path), Field: path, Msg: msg}
}

// Place gives the problems in err (from the code that owns a block, see
// Problem) their file, line and full field, under block at o. An error
// that is not a field problem is placed on block itself.
func (c *Config) Place(o Origin, block string, err error) []error {
	probs, rest := Problems(err)
	var out []error
	for _, p := range probs {
		out = append(out, c.ErrAt(o, joinField(block, p.Field), p.Msg))
	}
	for _, e := range rest {
		out = append(out, c.ErrAt(o, block, e.Error()))
	}
	return out
}

// Block returns a strict decoder for one block of the config file at path
// (its field names, for errors, start there): how a module decodes its own
// options (an SMS provider's twilio: block), with the same checks, *_file
// secrets and file:line errors as the rest.
func (c *Config) Block(node *yaml.Node, path string) func(out any) error {
	return func(out any) error {
		if node == nil {
			return nil
		}
		errs := &Errors{}
		d := &decoder{file: c.File, baseDir: c.Dir, errs: errs, pos: c.pos[c.File]}
		d.decode(node, path, reflect_(out))
		return errs.Err()
	}
}

// Decoder returns a strict decoder for a target's kind-specific options:
// collectors call it with a pointer to their own config struct.
func (c *Config) Decoder(t Target) func(out any) error {
	return func(out any) error {
		errs := &Errors{}
		if t.Options == nil {
			return nil
		}
		d := &decoder{file: t.Origin.File, baseDir: c.Dir, errs: errs, pos: c.pos[t.Origin.File]}
		d.decode(t.Options, t.Origin.Path, reflect_(out))
		return errs.Err()
	}
}

func (c *Config) applyDefaults() {
	if c.Site == "" {
		c.Site, _ = os.Hostname()
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	} else if !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(c.Dir, c.StateDir)
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9750"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 64
	}
	if c.Traps != nil && c.Traps.Listen == "" {
		c.Traps.Listen = "127.0.0.1:9162" // loopback and unprivileged unless told otherwise
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Interval == 0 {
			t.Interval = 30 * time.Second
		}
		if t.Timeout == 0 {
			// A deadline shorter than the interval, so one slow round never
			// runs into the next.
			t.Timeout = min(t.Interval*4/5, time.Minute)
		}
		if t.Class == "" {
			t.Class = t.Kind
		}
	}
	for i := range c.Rules {
		if c.Rules[i].Severity == "" {
			c.Rules[i].Severity = "warning"
		}
	}
	if e := c.Notify.Email; e != nil {
		if e.Timeout == 0 {
			// A relay that accepts and never answers must not hold an
			// alarm long: 10 s per relay, then the next one.
			e.Timeout = 10 * time.Second
		}
		for i := range e.Relays {
			r := &e.Relays[i]
			if r.TLS == "" {
				r.TLS = "opportunistic"
			}
			if r.Port == 0 {
				switch r.TLS {
				case "tls":
					r.Port = 465
				case "starttls":
					r.Port = 587
				default:
					r.Port = 25
				}
			}
			if r.Timeout == 0 {
				r.Timeout = e.Timeout
			}
		}
	}
}

// defaultStateDir: systemd's StateDirectory= when set, /var/lib/vedetta
// for root, else the user's state folder, so that `vedetta run` works for
// anyone trying it out.
func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/vedetta"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "vedetta")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "vedetta")
	}
	return filepath.Join(os.TempDir(), "vedetta")
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`)

func (c *Config) validate(errs *Errors) {
	at := func(o Origin, field, format string, args ...any) {
		errs.List = append(errs.List, c.ErrAt(o, field, fmt.Sprintf(format, args...)))
	}
	top := Origin{File: c.File}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		at(top, "http.listen", "want host:port, got %q", c.HTTP.Listen)
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		at(top, "log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		at(top, "log.format", "want text or json, got %q", c.Log.Format)
	}
	if c.MaxConcurrent < 1 {
		at(top, "max_concurrent_collections", "must be at least 1")
	}
	names := map[string]bool{}
	for _, t := range c.Targets {
		switch {
		case t.Name == "":
			at(t.Origin, "name", "every target needs a name")
		case !nameRE.MatchString(t.Name):
			at(t.Origin, "name", "%q: use letters, digits and _ . : @ -", t.Name)
		case names[t.Name]:
			at(t.Origin, "name", "target %q is defined twice", t.Name)
		}
		names[t.Name] = true
		if t.Kind == "" {
			at(t.Origin, "kind", "every target needs a kind")
		}
		if t.Interval < time.Second {
			at(t.Origin, "interval", "must be at least 1s, got %v", t.Interval)
		}
		if t.Timeout >= t.Interval {
			at(t.Origin, "timeout", "must be shorter than the interval (%v), got %v", t.Interval, t.Timeout)
		}
		for k := range t.Labels {
			if k == "target" || k == "class" || !labelRE.MatchString(k) {
				at(t.Origin, "labels."+k, "%q cannot be used as a label name", k)
			}
		}
	}
	for _, t := range c.Targets {
		for i, dep := range t.DependsOn {
			if !names[dep] {
				at(t.Origin, fmt.Sprintf("depends_on[%d]", i), "no target is named %q", dep)
			}
		}
	}
	rules := map[string]Origin{}
	for _, r := range c.Rules {
		if r.Name == "" {
			at(r.Origin, "name", "every rule needs a name")
		} else if prev, dup := rules[r.Name]; dup {
			at(r.Origin, "name", "rule %q is already defined (%s %s)", r.Name, prev.File, prev.Path)
		}
		rules[r.Name] = r.Origin
		if strings.TrimSpace(r.Expr) == "" {
			at(r.Origin, "expr", "every rule needs an expression")
		}
		if !oneOf(r.Severity, Severities...) {
			at(r.Origin, "severity", "want info, warning or critical, got %q", r.Severity)
		}
		for k := range r.Labels {
			if !labelRE.MatchString(k) {
				at(r.Origin, "labels."+k, "%q cannot be used as a label name", k)
			}
		}
	}
	if e := c.Notify.Email; e != nil {
		if _, err := mail.ParseAddress(e.From); err != nil {
			at(top, "notify.email.from", "not an e-mail address: %q", e.From)
		}
		if len(e.Relays) == 0 {
			at(top, "notify.email.relays", "list at least one SMTP relay")
		}
		for i, r := range e.Relays {
			f := fmt.Sprintf("notify.email.relays[%d]", i)
			if r.Host == "" {
				at(top, f+".host", "every relay needs a host")
			}
			if r.Port < 1 || r.Port > 65535 {
				at(top, f+".port", "must be 1-65535, got %d", r.Port)
			}
			if r.Timeout < 0 {
				at(top, f+".timeout", "must not be negative, got %s", r.Timeout)
			}
			if !oneOf(r.TLS, "starttls", "tls", "opportunistic", "none") {
				at(top, f+".tls", "want starttls, tls, opportunistic or none, got %q", r.TLS)
			}
			if r.Password != "" && r.Username == "" {
				at(top, f+".username", "a password is set but no username")
			}
		}
	}
	recv := map[string]bool{}
	for i, r := range c.Receivers {
		f := fmt.Sprintf("receivers[%d]", i)
		switch {
		case r.Name == "":
			at(top, f+".name", "every receiver needs a name")
		case recv[r.Name]:
			at(top, f+".name", "receiver %q is defined twice", r.Name)
		}
		recv[r.Name] = true
		for j, a := range r.Email {
			if _, err := mail.ParseAddress(a); err != nil {
				at(top, fmt.Sprintf("%s.email[%d]", f, j), "not an e-mail address: %q", a)
			}
		}
		if len(r.Email) > 0 && c.Notify.Email == nil {
			at(top, f+".email", "receiver %q has e-mail addresses but notify.email is not configured", r.Name)
		}
	}
	for i, rt := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if len(rt.Receivers) == 0 {
			at(top, f+".receivers", "a route needs at least one receiver")
		}
		for j, name := range rt.Receivers {
			if !recv[name] {
				at(top, fmt.Sprintf("%s.receivers[%d]", f, j), "no receiver is named %q", name)
			}
		}
		for j, ch := range rt.Channels {
			if !oneOf(ch, Channels...) {
				at(top, fmt.Sprintf("%s.channels[%d]", f, j), "unknown channel %q (known: %s)", ch, strings.Join(Channels, ", "))
			}
		}
	}
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

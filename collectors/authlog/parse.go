package authlog

import (
	"regexp"
	"strconv"
	"strings"
)

// Event is one or more failed authentication attempts.
type Event struct {
	Service string // sshd, sudo, or the PAM service (login, su, dovecot...)
	Source  string // remote address, or "local:USER" for local services
	User    string
	Count   int
}

// maxPending bounds the sshd connections remembered between lines.
const maxPending = 4096

// Parser turns auth log lines into failure events. It remembers, per sshd
// process, whether an "Invalid user" line was already counted, so that one
// attempt logged twice (Invalid user + Failed password for invalid user)
// counts once. Not safe for concurrent use.
type Parser struct {
	invalidCredit map[string]bool // sshd pid -> an "Invalid user" not yet matched by a Failed line
	counted       map[string]bool // sshd pid -> at least one failure counted
	order         []string
}

// NewParser returns a parser with empty state.
func NewParser() *Parser {
	return &Parser{invalidCredit: map[string]bool{}, counted: map[string]bool{}}
}

// tagRe finds the syslog tag "prog[pid]: " after a timestamp and host in
// any format (traditional with a month name in any language, RFC 3339).
var tagRe = regexp.MustCompile(`(?:^|\s)([A-Za-z0-9_.()/-]+?)(?:\[(\d+)\])?: `)

// Line parses one syslog line (/var/log/auth.log, /var/log/secure).
func (p *Parser) Line(line string) (Event, bool) {
	m := tagRe.FindStringSubmatchIndex(line)
	if m == nil {
		return Event{}, false
	}
	ident := line[m[2]:m[3]]
	pid := ""
	if m[4] >= 0 {
		pid = line[m[4]:m[5]]
	}
	return p.Message(ident, pid, line[m[1]:])
}

var (
	sshFailedRe  = regexp.MustCompile(`^Failed (\S+) for (invalid user )?(.*?) from (\S+) port \d+`)
	sshInvalidRe = regexp.MustCompile(`^Invalid user (.*?) from (\S+)(?: port \d+)?\s*$`)
	// Preauth disconnects of a connection that never authenticated.
	sshPreauthRe = regexp.MustCompile(`^(?:Connection closed by|Disconnected from) (authenticating|invalid) user (.*?) (\S+) port \d+ \[preauth\]`)
	pamFailRe    = regexp.MustCompile(`^pam_unix\(([^:)]+):auth\): authentication failure;(.*)$`)
	sudoFailRe   = regexp.MustCompile(`^\s*(\S+) : (\d+) incorrect password attempts?\b`)
	kvRe         = regexp.MustCompile(`(\w+)=(\S*)`)
)

// Message parses one message of program ident (with its pid, maybe "").
func (p *Parser) Message(ident, pid, msg string) (Event, bool) {
	msg = strings.TrimSpace(msg)
	switch ident {
	case "sshd", "sshd-session":
		return p.sshd(pid, msg)
	case "sudo":
		if m := sudoFailRe.FindStringSubmatch(msg); m != nil {
			n, err := strconv.Atoi(m[2])
			if err != nil || n < 1 || n > 1000 {
				return Event{}, false
			}
			return Event{Service: "sudo", Source: "local:" + clean(m[1]), User: clean(m[1]), Count: n}, true
		}
		// pam_unix(sudo:auth) lines are the same attempts as the summary
		// line above: not counted twice.
		return Event{}, false
	}
	if m := pamFailRe.FindStringSubmatch(msg); m != nil {
		svc := clean(m[1])
		if svc == "sshd" || svc == "sudo" || svc == "" {
			return Event{}, false // counted from the program's own lines
		}
		kv := map[string]string{}
		for _, f := range kvRe.FindAllStringSubmatch(m[2], -1) {
			kv[f[1]] = f[2]
		}
		user := kv["user"]
		src := kv["rhost"]
		if src == "" {
			who := kv["ruser"]
			if who == "" {
				who = kv["logname"]
			}
			src = "local:" + who
		}
		return Event{Service: svc, Source: clean(src), User: clean(user), Count: 1}, true
	}
	return Event{}, false
}

func (p *Parser) sshd(pid, msg string) (Event, bool) {
	key := pid
	if m := sshFailedRe.FindStringSubmatch(msg); m != nil {
		if key == "" {
			key = m[4]
		}
		p.remember(key)
		p.counted[key] = true
		if m[2] != "" && p.invalidCredit[key] {
			p.invalidCredit[key] = false // already counted at "Invalid user"
			return Event{}, false
		}
		return Event{Service: "sshd", Source: clean(m[4]), User: clean(m[3]), Count: 1}, true
	}
	if m := sshInvalidRe.FindStringSubmatch(msg); m != nil {
		if key == "" {
			key = m[2]
		}
		p.remember(key)
		p.counted[key] = true
		p.invalidCredit[key] = true
		return Event{Service: "sshd", Source: clean(m[2]), User: clean(m[1]), Count: 1}, true
	}
	if m := sshPreauthRe.FindStringSubmatch(msg); m != nil {
		if key == "" {
			key = m[3]
		}
		already := p.counted[key]
		p.forget(key)
		if already {
			return Event{}, false
		}
		return Event{Service: "sshd", Source: clean(m[3]), User: clean(m[2]), Count: 1}, true
	}
	return Event{}, false
}

func (p *Parser) remember(key string) {
	if _, ok := p.counted[key]; ok {
		return
	}
	if len(p.order) >= maxPending {
		old := p.order[0]
		p.order = p.order[1:]
		delete(p.counted, old)
		delete(p.invalidCredit, old)
	}
	p.order = append(p.order, key)
	p.counted[key] = false
}

func (p *Parser) forget(key string) {
	delete(p.counted, key)
	delete(p.invalidCredit, key)
	for i, k := range p.order {
		if k == key {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// clean bounds what goes into a label value.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "")
	}
	return s
}

package dispatch

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

// Matcher is one condition of a silence on a label of the alarm (with
// severity and rule, or alertname, as pseudo-labels): equal (=), not equal
// (!=), matches (=~) or does not match (!~) a regular expression, anchored
// at both ends as Alertmanager's are (`ifname=~Gi1/.*`). A label the alarm
// lacks has the empty value.
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
	re    *regexp.Regexp
}

// Matchers all have to hold.
type Matchers []Matcher

var matcherOps = []string{"=~", "!~", "!=", "="} // longest first, for parsing

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// NewMatcher checks a matcher and compiles its expression.
func NewMatcher(name, op, value string) (Matcher, error) {
	m := Matcher{Name: name, Op: op, Value: value}
	if !labelName.MatchString(name) {
		return m, fmt.Errorf("matcher %q: %q is not a label name", m.raw(), name)
	}
	switch op {
	case "=", "!=":
	case "=~", "!~":
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return m, fmt.Errorf("matcher %q: %v", m.raw(), err)
		}
		m.re = re
	default:
		return m, fmt.Errorf("matcher %q: the operator is one of = != =~ !~", m.raw())
	}
	return m, nil
}

// ParseMatcher reads LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or
// LABEL!~REGEX (what `silence add --match` and the page take).
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	best, at := "", -1
	for _, op := range matcherOps {
		if i := strings.Index(s, op); i > 0 && (at < 0 || i < at || i == at && len(op) > len(best)) {
			best, at = op, i
		}
	}
	if at < 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX", s)
	}
	value := strings.TrimSpace(s[at+len(best):])
	if uq, err := strconv.Unquote(value); err == nil && strings.HasPrefix(value, `"`) {
		value = uq // ifname=~"Gi1/.*", as String writes it
	}
	return NewMatcher(strings.TrimSpace(s[:at]), best, value)
}

// Equal builds equality matchers from a label map, sorted by name.
func Equal(match map[string]string) Matchers {
	out := make(Matchers, 0, len(match))
	for k, v := range match {
		out = append(out, Matcher{Name: k, Op: "=", Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// String is the matcher as Alertmanager and amtool write it:
// ifname=~"Gi1/.*".
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// raw is the matcher as typed, for error messages.
func (m Matcher) raw() string { return m.Name + m.Op + m.Value }

// Matches reports whether the alarm's label satisfies the matcher.
func (m Matcher) Matches(a model.Alarm) bool {
	v := labelOf(a, m.Name)
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	}
	re := m.re
	if re == nil { // decoded from the store: compile (checked when it was made)
		var err error
		if re, err = regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
			return false
		}
	}
	return re.MatchString(v) == (m.Op == "=~")
}

// Matches reports whether every matcher holds.
func (ms Matchers) Matches(a model.Alarm) bool {
	for _, m := range ms {
		if !m.Matches(a) {
			return false
		}
	}
	return true
}

// String is how people read them: `ifname=~"Gi1/.*" target="core-sw1"`.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, " ")
}

// compiled returns the matchers with their expressions compiled (after
// decoding, which leaves them out).
func (ms Matchers) compiled() Matchers {
	out := make(Matchers, len(ms))
	for i, m := range ms {
		if c, err := NewMatcher(m.Name, m.Op, m.Value); err == nil {
			m = c
		}
		out[i] = m
	}
	return out
}

// equalities is the part of ms that is plain equality, as a map (the
// `match` field older readers of the API and the store know).
func (ms Matchers) equalities() map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		if m.Op == "=" {
			out[m.Name] = m.Value
		}
	}
	return out
}

// matchesEverything is true when no alarm could fail the matchers in
// practice: only negations and expressions that match the empty label
// (`target=~.*`) — a silence of everything is an outage, not a silence.
func (ms Matchers) matchesEverything() bool {
	for _, m := range ms {
		switch {
		case m.Op == "=" && m.Value != "":
			return false
		case m.Op == "=~" && m.re != nil && !m.re.MatchString(""):
			return false
		}
	}
	return true
}

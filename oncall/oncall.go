// Package oncall answers "who is on call now, and who is next": rotations
// (weekly, daily or any period) over a list of people, with hand-offs at a
// local time in a time zone, and time-boxed overrides. Receivers name a
// schedule (`oncall: primary`) and the dispatcher asks at the moment it
// notifies, so a weekly rotation is never a config edit every Monday.
//
// The package owns the `schedules:` block of the config: the daemon hands
// it the block's decoder, and every problem names its field.
package oncall

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on hosts without /usr/share/zoneinfo

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Config is one schedule as written in the config.
type Config struct {
	Name string `yaml:"name"`
	// TimeZone of the hand-offs (IANA name; default UTC): a hand-off at
	// 09:00 stays at 09:00 across daylight saving time.
	TimeZone string `yaml:"time_zone"`
	// Every is the rotation period: week, day, or a duration (12h).
	Every string `yaml:"every"`
	// Start is the first hand-off, local time ("2026-11-30 09:00"): the
	// first person in People is on call from then for one period, then the
	// next. Times before it follow the same rotation backwards.
	Start  string   `yaml:"start"`
	People []string `yaml:"people"`
	// Overrides put someone else on call for a while (a swap, a holiday).
	Overrides []OverrideConfig `yaml:"overrides"`
}

// OverrideConfig is one override as written in the config.
type OverrideConfig struct {
	Person  string `yaml:"person"`
	From    string `yaml:"from"`
	Until   string `yaml:"until"`
	Comment string `yaml:"comment"`
}

// Schedule is a checked, compiled schedule.
type Schedule struct {
	Name      string
	loc       *time.Location
	days      int           // 7 (week) or 1 (day); 0: period below
	period    time.Duration // when days == 0
	start     time.Time
	people    []string
	overrides []Override
}

// Override is one time-boxed replacement: from the config, or made at run
// time (then with its ID, who made it and its schedule).
type Override struct {
	ID       string    `json:"id,omitempty"`
	Schedule string    `json:"schedule,omitempty"`
	Person   string    `json:"person"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	Comment  string    `json:"comment,omitempty"`
	By       string    `json:"by,omitempty"`
}

// Shift is someone on call for a span of time.
type Shift struct {
	Person string    `json:"person"`
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	// Override is true when an override, not the rotation, put them there.
	Override bool `json:"override,omitempty"`
}

// Schedules are the compiled schedules of one config, by name.
type Schedules map[string]*Schedule

// timeLayouts are accepted for start, from and until (local time in the
// schedule's zone).
var timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseLocal(s string, loc *time.Location) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, strings.TrimSpace(s), loc); err == nil {
			if t.Year() < 1970 || t.Year() > 2999 {
				return time.Time{}, fmt.Errorf("%q is not a plausible date for a rotation", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a local time like 2026-11-30 09:00", s)
}

// Parse decodes and checks the schedules block. person reports whether a
// name is a receiver who can be put on call (one with contact points, not
// itself a schedule). Problems name their field (config.Problem).
func Parse(decode func(any) error, person func(string) bool) (Schedules, error) {
	var list []Config
	if err := decode(&list); err != nil {
		return nil, err
	}
	out := Schedules{}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, config.Problem(field, format, args...))
	}
	for i, c := range list {
		at := func(f string) string { return fmt.Sprintf("[%d].%s", i, f) }
		s := &Schedule{Name: c.Name, loc: time.UTC}
		switch {
		case c.Name == "":
			bad(at("name"), "a schedule needs a name")
		case out[c.Name] != nil:
			bad(at("name"), "schedule %q is defined twice", c.Name)
		}
		if c.TimeZone != "" {
			loc, err := time.LoadLocation(c.TimeZone)
			if err != nil {
				bad(at("time_zone"), "unknown time zone %q (an IANA name such as Europe/Rome)", c.TimeZone)
			} else {
				s.loc = loc
			}
		}
		switch c.Every {
		case "week", "weekly":
			s.days = 7
		case "day", "daily":
			s.days = 1
		case "":
			bad(at("every"), "say how often the rotation hands off: week, day, or a duration such as 12h")
		default:
			d, err := time.ParseDuration(c.Every)
			if err != nil || d < time.Second {
				bad(at("every"), "%q is not week, day or a duration of at least 1s", c.Every)
			}
			s.period = d
		}
		if c.Start == "" {
			bad(at("start"), "a rotation needs its first hand-off (start: 2026-11-30 09:00)")
		} else if t, err := parseLocal(c.Start, s.loc); err != nil {
			bad(at("start"), "%v", err)
		} else {
			s.start = t
		}
		if len(c.People) == 0 {
			bad(at("people"), "a rotation needs at least one person (a receiver's name)")
		}
		for j, p := range c.People {
			if !person(p) {
				bad(fmt.Sprintf("[%d].people[%d]", i, j), "%q is not a receiver with contact points", p)
			}
		}
		s.people = c.People
		for j, o := range c.Overrides {
			of := func(f string) string { return fmt.Sprintf("[%d].overrides[%d].%s", i, j, f) }
			if !person(o.Person) {
				bad(of("person"), "%q is not a receiver with contact points", o.Person)
			}
			from, ferr := parseLocal(o.From, s.loc)
			if ferr != nil {
				bad(of("from"), "%v", ferr)
			}
			until, uerr := parseLocal(o.Until, s.loc)
			if uerr != nil {
				bad(of("until"), "%v", uerr)
			}
			if ferr == nil && uerr == nil && !until.After(from) {
				bad(of("until"), "the override ends (%s) before it starts (%s)", o.Until, o.From)
			}
			s.overrides = append(s.overrides, Override{Person: o.Person, From: from, Until: until, Comment: o.Comment})
		}
		if c.Name != "" && out[c.Name] == nil {
			out[c.Name] = s
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// handoff is the n-th hand-off (0 is start; negative before it).
func (s *Schedule) handoff(n int) time.Time {
	if s.days > 0 {
		// AddDate on a local time keeps the wall clock: 09:00 stays 09:00
		// across a change to or from daylight saving time.
		return s.start.AddDate(0, 0, n*s.days)
	}
	// In whole seconds from the start's Unix time, not time.Duration,
	// which overflows past 292 years (a schedule starting in 2620 asked
	// about 1968 looped for ever on wrapped hand-offs: FuzzSchedule).
	whole, frac := int64(s.period/time.Second), s.period%time.Second
	at := time.Unix(s.start.Unix()+int64(n)*whole, int64(s.start.Nanosecond())).In(s.start.Location())
	return at.Add(time.Duration(n) * frac)
}

// index is the number of the hand-off in force at t.
func (s *Schedule) index(t time.Time) int {
	// In seconds, not time.Duration, which saturates at 292 years.
	secs := float64(t.Unix() - s.start.Unix())
	var n int
	if s.days > 0 {
		n = int(secs / 86400 / float64(s.days))
	} else {
		n = int(secs / s.period.Seconds())
	}
	// The estimate is off by one near a hand-off (a 23 or 25 hour day,
	// truncation towards zero before start): settle it on the real times.
	for !s.handoff(n + 1).After(t) {
		n++
	}
	for s.handoff(n).After(t) {
		n--
	}
	return n
}

func (s *Schedule) person(n int) string {
	k := len(s.people)
	return s.people[((n%k)+k)%k]
}

// At says who is on call at t. next counts people after them in the
// rotation (1: the next person, for an escalation step), which overrides
// do not change.
func (s *Schedule) At(t time.Time, next int) Shift {
	n := s.index(t)
	sh := Shift{Person: s.person(n + next), From: s.handoff(n), Until: s.handoff(n + 1)}
	if next != 0 {
		return sh
	}
	if o, ok := s.override(t); ok {
		return Shift{Person: o.Person, From: o.From, Until: o.Until, Override: true}
	}
	// A shift also ends where an override begins, and starts where one
	// ended.
	for _, o := range s.overrides {
		if o.From.After(t) && o.From.Before(sh.Until) {
			sh.Until = o.From
		}
		if !o.Until.After(t) && o.Until.After(sh.From) {
			sh.From = o.Until
		}
	}
	return sh
}

// override is the override in force at t: the latest-starting one when
// they overlap (the most specific swap wins).
func (s *Schedule) override(t time.Time) (Override, bool) {
	var best Override
	found := false
	for _, o := range s.overrides {
		if !o.From.After(t) && o.Until.After(t) && (!found || o.From.After(best.From)) {
			best, found = o, true
		}
	}
	return best, found
}

// Upcoming is the shift in force at t and the ones after it, n in all.
func (s *Schedule) Upcoming(t time.Time, n int) []Shift {
	var out []Shift
	for len(out) < n {
		sh := s.At(t, 0)
		out = append(out, sh)
		t = sh.Until
	}
	return out
}

// With returns the schedules with run-time overrides added to theirs
// (overrides of a schedule that does not exist are left out).
func (ss Schedules) With(extra []Override) Schedules {
	if len(extra) == 0 {
		return ss
	}
	out := make(Schedules, len(ss))
	for name, s := range ss {
		c := *s
		c.overrides = append([]Override(nil), s.overrides...)
		for _, o := range extra {
			if o.Schedule == name {
				c.overrides = append(c.overrides, o)
			}
		}
		out[name] = &c
	}
	return out
}

// Overrides are the schedule's overrides, config and run-time ones.
func (s *Schedule) Overrides() []Override { return append([]Override(nil), s.overrides...) }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Names lists the schedules, sorted.
func (ss Schedules) Names() []string {
	out := make([]string, 0, len(ss))
	for n := range ss {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Who says who is on call on schedule name at t (next: people after them).
func (ss Schedules) Who(name string, next int, t time.Time) (string, bool) {
	s := ss[name]
	if s == nil {
		return "", false
	}
	return s.At(t, next).Person, true
}

// Report is one schedule's answer to "who is on call, and who is next".
type Report struct {
	Schedule  string     `json:"schedule"`
	TimeZone  string     `json:"time_zone"`
	Now       Shift      `json:"now"`
	Next      []Shift    `json:"next"`
	Overrides []Override `json:"overrides"`
}

// Report says, for every schedule at t, the shift in force and the ones
// after it (n in all), and the overrides that have not ended.
func (ss Schedules) Report(t time.Time, n int) []Report {
	out := []Report{}
	for _, name := range ss.Names() {
		s := ss[name]
		shifts := s.Upcoming(t, max(n, 1))
		r := Report{Schedule: name, TimeZone: s.loc.String(), Now: shifts[0], Next: shifts[1:], Overrides: []Override{}}
		for _, o := range s.overrides {
			if o.Until.After(t) {
				r.Overrides = append(r.Overrides, o)
			}
		}
		sort.Slice(r.Overrides, func(i, j int) bool { return r.Overrides[i].From.Before(r.Overrides[j].From) })
		out = append(out, r)
	}
	return out
}

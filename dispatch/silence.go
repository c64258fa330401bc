package dispatch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vedetta-dc/vedetta/model"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// Silence mutes notifications for matching alarms while it is active. The
// alarms themselves keep being evaluated; when the silence ends, alarms
// still firing are notified (Icinga's downtime lesson, icinga2#3779).
type Silence struct {
	ID string `json:"id"`
	// Matchers must all hold. Match is their equality part as a map, as
	// records and readers from before the other operators know it (a
	// record with Match only is read as equality matchers).
	Matchers  Matchers          `json:"matchers,omitempty"`
	Match     map[string]string `json:"match"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by,omitempty"`
	// Schedule is set for silences from the config (recurring windows).
	Schedule *Schedule `json:"-"`
	Source   string    `json:"source"` // config | api
}

// Active reports whether the silence mutes at t.
func (s *Silence) Active(t time.Time) bool {
	if s.Schedule != nil {
		return s.Schedule.Contains(t)
	}
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt)
}

// Matches reports whether the silence applies to alarm a.
func (s *Silence) Matches(a *model.Alarm) bool {
	if len(s.Matchers) == 0 {
		return matches(s.Match, *a)
	}
	return s.Matchers.Matches(*a)
}

// prepared returns s with its expressions compiled (decoded from the
// store or a cluster command, they are not).
func (s Silence) prepared() Silence {
	s.Matchers = s.Matchers.compiled()
	return s
}

// Schedule is a recurring weekly window in local time: "Sat 02:00-04:00",
// "Mon-Fri 22:00-06:00" (crossing midnight: the window starts on the named
// days), "Sat,Sun 00:00-24:00", "daily 03:00-03:30".
type Schedule struct {
	days       [7]bool
	start, end int // minutes after midnight
	text       string
	loc        *time.Location
}

var dayNames = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParseSchedule parses a weekly window.
func ParseSchedule(s string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return nil, fmt.Errorf("schedule %q: want DAYS HH:MM-HH:MM, e.g. \"Sat 02:00-04:00\" or \"Mon-Fri 22:00-06:00\"", s)
	}
	sc := &Schedule{text: s, loc: loc}
	if d := strings.ToLower(fields[0]); d == "daily" || d == "*" {
		for i := range sc.days {
			sc.days[i] = true
		}
	} else {
		for _, part := range strings.Split(d, ",") {
			from, to, isRange := strings.Cut(part, "-")
			a, ok1 := dayNames[from]
			b, ok2 := a, true
			if isRange {
				b, ok2 = dayNames[to]
			}
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("schedule %q: unknown day in %q (use Mon Tue Wed Thu Fri Sat Sun, ranges like Mon-Fri, or daily)", s, part)
			}
			for x := a; ; x = (x + 1) % 7 {
				sc.days[x] = true
				if x == b {
					break
				}
			}
		}
	}
	from, to, ok := strings.Cut(fields[1], "-")
	var err1, err2 error
	sc.start, err1 = parseClock(from)
	sc.end, err2 = parseClock(to)
	if !ok || err1 != nil || err2 != nil || sc.start == sc.end {
		return nil, fmt.Errorf("schedule %q: want a time window like 02:00-04:00", s)
	}
	return sc, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t falls in the window.
func (sc *Schedule) Contains(t time.Time) bool {
	t = t.In(sc.loc)
	mins := t.Hour()*60 + t.Minute()
	if sc.start < sc.end {
		return sc.days[t.Weekday()] && mins >= sc.start && mins < sc.end
	}
	// Crosses midnight: started today, or started yesterday.
	if sc.days[t.Weekday()] && mins >= sc.start {
		return true
	}
	return sc.days[(t.Weekday()+6)%7] && mins < sc.end
}

func (sc *Schedule) String() string { return sc.text }

// silenceList is every silence, config ones first. Caller holds d.mu.
func (d *Dispatcher) silenceList() []*Silence {
	out := append([]*Silence(nil), d.config...)
	ids := make([]string, 0, len(d.silences))
	for id := range d.silences {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out = append(out, d.silences[id])
	}
	return out
}

// Silences lists the silences (config windows and run-time ones not yet
// ended).
func (d *Dispatcher) Silences() []Silence {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var out []Silence
	for _, s := range d.silenceList() {
		if s.Schedule == nil && !now.Before(s.EndsAt) {
			continue
		}
		c := *s
		if c.Schedule != nil {
			c.Comment = strings.TrimSpace(c.Comment + " (" + c.Schedule.String() + ")")
		}
		out = append(out, c)
	}
	return out
}

// AddSilence creates a run-time silence (kept in the store).
func (d *Dispatcher) AddSilence(ms Matchers, starts, ends time.Time, comment, by string) (Silence, error) {
	s, err := newSilence(ms, starts, ends, comment, by)
	if err != nil {
		return Silence{}, err
	}
	return s, d.putSilence(s)
}

// putSilence records a run-time silence made here or on a cluster
// member's API (with its ID: a command applied twice makes one silence).
func (d *Dispatcher) putSilence(s Silence) error {
	err := d.store.Update(func(tx store.Tx) error {
		j, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return tx.Put(store.Silences, s.ID, j)
	})
	if err != nil {
		return err
	}
	s = s.prepared()
	d.mu.Lock()
	d.silences[s.ID] = &s
	d.mu.Unlock()
	d.log.Info("silence added", "id", s.ID, "match", s.String(), "until", s.EndsAt.Format(time.RFC3339), "by", s.CreatedBy, "comment", s.Comment)
	d.Wake()
	return nil
}

// String is the silence's matchers as people write them.
func (s *Silence) String() string {
	if len(s.Matchers) == 0 {
		return Equal(s.Match).String()
	}
	return s.Matchers.String()
}

// ExpireSilence ends a run-time silence now; alarms it held back and that
// still fire are notified at the next housekeeping.
func (d *Dispatcher) ExpireSilence(id string) error {
	d.mu.Lock()
	s, ok := d.silences[id]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("no run-time silence %q (config silences are changed in the config)", id)
	}
	now := d.now()
	c := *s
	if c.EndsAt.After(now) {
		c.EndsAt = now
	}
	err := d.store.Update(func(tx store.Tx) error {
		j, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return tx.Put(store.Silences, id, j)
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.silences[id] = &c
	d.mu.Unlock()
	d.log.Info("silence expired", "id", id)
	d.Wake()
	return nil
}

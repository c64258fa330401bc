package oncall

import (
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
)

func given(list []Config) func(any) error {
	return func(out any) error { *out.(*[]Config) = list; return nil }
}

var people = map[string]bool{"alice": true, "bob": true, "carol": true, "dave": true}

func parse(t *testing.T, c Config) *Schedule {
	t.Helper()
	ss, err := Parse(given([]Config{c}), func(p string) bool { return people[p] })
	if err != nil {
		t.Fatal(err)
	}
	return ss[c.Name]
}

func TestRotation(t *testing.T) {
	rome, _ := time.LoadLocation("Europe/Rome")
	at := func(s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, rome)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	weekly := parse(t, Config{
		Name: "primary", TimeZone: "Europe/Rome", Every: "week", Start: "2026-03-23 09:00",
		People: []string{"alice", "bob", "carol"},
		Overrides: []OverrideConfig{
			{Person: "dave", From: "2026-04-08 18:00", Until: "2026-04-10 09:00"},
			// a shorter swap inside the first: the later start wins
			{Person: "alice", From: "2026-04-09 12:00", Until: "2026-04-09 14:00"},
		},
	})
	daily := parse(t, Config{Name: "d", Every: "daily", Start: "2026-01-01 08:00", People: []string{"alice", "bob"}})
	halfDay := parse(t, Config{Name: "h", Every: "12h", Start: "2026-01-01 08:00", People: []string{"alice", "bob", "carol"}})
	for _, tc := range []struct {
		name  string
		s     *Schedule
		t     time.Time
		next  int
		want  string
		until time.Time
	}{
		{"first shift", weekly, at("2026-03-23 09:00"), 0, "alice", at("2026-03-30 09:00")},
		// 2026-03-29 02:00 is the switch to summer time: the hand-off is
		// still at 09:00 local, 6 days 23 hours after the first.
		{"just before the hand-off across DST", weekly, at("2026-03-30 08:59"), 0, "alice", at("2026-03-30 09:00")},
		{"hand-off across DST", weekly, at("2026-03-30 09:00"), 0, "bob", at("2026-04-06 09:00")},
		{"the next person", weekly, at("2026-03-30 09:00"), 1, "carol", at("2026-04-06 09:00")},
		{"third week", weekly, at("2026-04-07 10:00"), 0, "carol", at("2026-04-08 18:00")}, // ends where the override begins
		{"wraps around", weekly, at("2026-04-14 10:00"), 0, "alice", at("2026-04-20 09:00")},
		{"override", weekly, at("2026-04-08 20:00"), 0, "dave", at("2026-04-10 09:00")},
		{"override inside an override", weekly, at("2026-04-09 13:00"), 0, "alice", at("2026-04-09 14:00")},
		{"back to the outer override", weekly, at("2026-04-09 15:00"), 0, "dave", at("2026-04-10 09:00")},
		{"next ignores overrides", weekly, at("2026-04-08 20:00"), 1, "alice", at("2026-04-13 09:00")},
		{"after the override", weekly, at("2026-04-10 09:00"), 0, "carol", at("2026-04-13 09:00")},
		{"before start, backwards", weekly, at("2026-03-20 12:00"), 0, "carol", at("2026-03-23 09:00")},
		{"two weeks before start", weekly, at("2026-03-15 12:00"), 0, "bob", at("2026-03-16 09:00")},
		{"daily", daily, time.Date(2026, 1, 3, 7, 59, 0, 0, time.UTC), 0, "bob", time.Date(2026, 1, 3, 8, 0, 0, 0, time.UTC)},
		{"daily hand-off", daily, time.Date(2026, 1, 3, 8, 0, 0, 0, time.UTC), 0, "alice", time.Date(2026, 1, 4, 8, 0, 0, 0, time.UTC)},
		{"12h", halfDay, time.Date(2026, 1, 2, 21, 0, 0, 0, time.UTC), 0, "alice", time.Date(2026, 1, 3, 8, 0, 0, 0, time.UTC)},
		{"12h before start", halfDay, time.Date(2025, 12, 31, 21, 0, 0, 0, time.UTC), 0, "carol", time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := tc.s.At(tc.t, tc.next)
			if sh.Person != tc.want || !sh.Until.Equal(tc.until) {
				t.Errorf("At(%s, %d) = %s until %s, want %s until %s", tc.t, tc.next, sh.Person, sh.Until.In(tc.t.Location()), tc.want, tc.until)
			}
			if sh.From.After(tc.t) || !sh.Until.After(tc.t) {
				t.Errorf("shift %s..%s does not hold %s", sh.From, sh.Until, tc.t)
			}
		})
	}
}

// The shifts Upcoming lists follow each other without a gap, and each
// agrees with At at its start and just before its end.
func TestUpcomingIsContiguous(t *testing.T) {
	s := parse(t, Config{
		Name: "p", TimeZone: "America/New_York", Every: "week", Start: "2026-01-05 09:00",
		People:    []string{"alice", "bob", "carol"},
		Overrides: []OverrideConfig{{Person: "dave", From: "2026-03-07 00:00", Until: "2026-03-09 12:00"}},
	})
	from := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	shifts := s.Upcoming(from, 12)
	for i, sh := range shifts {
		if i > 0 && !sh.From.Equal(shifts[i-1].Until) {
			t.Errorf("gap between shift %d (until %s) and %d (from %s)", i-1, shifts[i-1].Until, i, sh.From)
		}
		if got := s.At(sh.Until.Add(-time.Second), 0).Person; got != sh.Person {
			t.Errorf("shift %d: %s, but At just before its end says %s", i, sh.Person, got)
		}
	}
	if shifts[3].Person != "dave" || !shifts[3].Override || shifts[4].Person != "alice" {
		t.Errorf("the override is not the fourth shift: %+v", shifts)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		c     Config
		field string
		msg   string
	}{
		{Config{Every: "week", Start: "2026-01-01", People: []string{"alice"}}, "[0].name", "needs a name"},
		{Config{Name: "p", TimeZone: "Mars/Olympus", Every: "week", Start: "2026-01-01", People: []string{"alice"}}, "[0].time_zone", "unknown time zone"},
		{Config{Name: "p", Every: "fortnight", Start: "2026-01-01", People: []string{"alice"}}, "[0].every", "not week, day"},
		{Config{Name: "p", Every: "week", People: []string{"alice"}}, "[0].start", "first hand-off"},
		{Config{Name: "p", Every: "week", Start: "next monday", People: []string{"alice"}}, "[0].start", "not a local time"},
		{Config{Name: "p", Every: "week", Start: "2026-01-01"}, "[0].people", "at least one person"},
		{Config{Name: "p", Every: "week", Start: "2026-01-01", People: []string{"alice", "mallory"}}, "[0].people[1]", `"mallory" is not a receiver`},
		{Config{Name: "p", Every: "week", Start: "2026-01-01", People: []string{"alice"},
			Overrides: []OverrideConfig{{Person: "bob", From: "2026-01-03 10:00", Until: "2026-01-03 09:00"}}}, "[0].overrides[0].until", "ends"},
	} {
		_, err := Parse(given([]Config{tc.c}), func(p string) bool { return people[p] })
		probs, _ := config.Problems(err)
		if len(probs) != 1 || probs[0].Field != tc.field || !strings.Contains(probs[0].Msg, tc.msg) {
			t.Errorf("%+v: got %v, want one problem at %s saying %q", tc.c, err, tc.field, tc.msg)
		}
	}
	_, err := Parse(given([]Config{{Name: "p", Every: "day", Start: "2026-01-01", People: []string{"alice"}},
		{Name: "p", Every: "day", Start: "2026-01-01", People: []string{"alice"}}}), func(string) bool { return true })
	if probs, _ := config.Problems(err); len(probs) != 1 || probs[0].Field != "[1].name" {
		t.Errorf("a schedule defined twice: %v", err)
	}
}

// Whatever a config says, a schedule that parses answers for any moment
// with a shift that holds it and a person of the rotation or an override.
func FuzzSchedule(f *testing.F) {
	f.Add("Europe/Rome", "week", "2026-03-23 09:00", "2026-04-08 18:00", "2026-04-10 09:00", int64(1774800000), uint8(0))
	f.Add("", "12h", "2026-01-01", "2026-01-01 10:00", "2026-01-01 11:00", int64(-86400*400), uint8(1))
	f.Add("America/New_York", "day", "2026-11-01 01:30", "2026-11-01 01:00", "2026-11-01 03:00", int64(1793511000), uint8(2))
	f.Fuzz(func(t *testing.T, tz, every, start, from, until string, at int64, next uint8) {
		c := Config{Name: "p", TimeZone: tz, Every: every, Start: start, People: []string{"alice", "bob", "carol"},
			Overrides: []OverrideConfig{{Person: "dave", From: from, Until: until}}}
		ss, err := Parse(given([]Config{c}), func(p string) bool { return people[p] })
		if err != nil {
			return
		}
		s := ss["p"]
		if s.days == 0 && s.period < time.Second {
			t.Fatalf("period %v accepted", s.period)
		}
		// Keep to moments a rotation can be asked about (a few centuries).
		when := time.Unix(at%(400*365*86400), 0)
		if sh := s.At(when, int(next%4)); sh.From.After(when) || !sh.Until.After(when) || !people[sh.Person] {
			t.Fatalf("At(%s) = %+v", when, sh)
		}
	})
}

package dispatch

import (
	"testing"
	"time"
)

func TestSchedules(t *testing.T) {
	utc := time.UTC
	// 2026-11-28 is a Saturday.
	at := func(day int, hm string) time.Time {
		tt, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-"+itoa2(day)+" "+hm, utc)
		return tt
	}
	cases := []struct {
		sched string
		t     time.Time
		want  bool
	}{
		{"Sat 02:00-04:00", at(28, "02:00"), true},
		{"Sat 02:00-04:00", at(28, "03:59"), true},
		{"Sat 02:00-04:00", at(28, "04:00"), false},
		{"Sat 02:00-04:00", at(27, "03:00"), false},
		{"Mon-Fri 22:00-06:00", at(27, "23:30"), true},  // Friday night
		{"Mon-Fri 22:00-06:00", at(28, "05:59"), true},  // Saturday morning, started Friday
		{"Mon-Fri 22:00-06:00", at(29, "05:00"), false}, // Sunday morning: Saturday is not in the list
		{"Sat,Sun 00:00-24:00", at(29, "12:00"), true},
		{"daily 03:00-03:30", at(25, "03:10"), true},
		{"Fri-Mon 10:00-11:00", at(30, "10:30"), true}, // Monday, a range that wraps the week
		{"Fri-Mon 10:00-11:00", at(26, "10:30"), false},
	}
	for _, c := range cases {
		sc, err := ParseSchedule(c.sched, utc)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.Contains(c.t); got != c.want {
			t.Errorf("%q at %s = %v, want %v", c.sched, c.t.Format("Mon 15:04"), got, c.want)
		}
	}
	for _, bad := range []string{"Saturday 02:00-04:00", "Sat 2-4", "Sat 02:00", "Sat 25:00-26:00", "Sat 02:00-02:00", ""} {
		if _, err := ParseSchedule(bad, utc); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}

func itoa2(d int) string {
	if d < 10 {
		return "0" + string(rune('0'+d))
	}
	return string(rune('0'+d/10)) + string(rune('0'+d%10))
}

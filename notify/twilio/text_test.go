package twilio

import (
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/notify"
)

func TestSMSText(t *testing.T) {
	const id = "a1b2c3d4"
	long := "[vedetta dc1] FIRING critical: ups_on_battery on ups-b: UPS B has been running on battery for 5 minutes, " +
		"remaining runtime 12 minutes, load 63 percent, input voltage 0 V, site dc1 room 2 row C rack 14 [" + id + "]"
	tests := []struct {
		name      string
		m         notify.Message
		want      string // exact, when set
		prefix    string // the start of the text, when want is not set
		ellipsis  string // expected truncation mark ("" = not truncated)
		limit     int
		wantUnits int // exact length in units, when set
	}{
		{name: "short subject kept, id last",
			m:     notify.Message{AlarmID: id, Subject: "[vedetta dc1] FIRING critical: ups_on_battery on ups-b: on battery [" + id + "]"},
			want:  "[vedetta dc1] FIRING critical: ups_on_battery on ups-b: on battery [" + id + "]",
			limit: GSM7Limit},
		{name: "id appended when absent",
			m:     notify.Message{AlarmID: id, Subject: "RESOLVED warning: temp on rack-3"},
			want:  "RESOLVED warning: temp on rack-3 [" + id + "]",
			limit: GSM7Limit},
		{name: "id moved from the middle to the end",
			m:     notify.Message{AlarmID: id, Subject: "[" + id + "] FIRING disk full"},
			want:  "FIRING disk full [" + id + "]",
			limit: GSM7Limit},
		{name: "long GSM-7 cut with three dots, id kept",
			m:        notify.Message{AlarmID: id, Subject: long},
			prefix:   "[vedetta dc1] FIRING critical: ups_on_battery on ups-b: UPS B has been running",
			ellipsis: "...", limit: GSM7Limit},
		{name: "degree sign folded to stay GSM-7",
			m:     notify.Message{AlarmID: id, Subject: "FIRING critical: inlet 31.5°C on rack-3 – “hot aisle”…"},
			want:  `FIRING critical: inlet 31.5C on rack-3 - "hot aisle"... [` + id + "]",
			limit: GSM7Limit},
		{name: "newlines and tabs collapsed",
			m:     notify.Message{AlarmID: id, Subject: "FIRING\n\tcritical:   pdu  overload\r\n"},
			want:  "FIRING critical: pdu overload [" + id + "]",
			limit: GSM7Limit},
		{name: "empty subject uses the body's first line",
			m:     notify.Message{AlarmID: id, Body: "\n\nALARM FIRING: UPS on battery\n\nAlarm id: " + id},
			want:  "ALARM FIRING: UPS on battery [" + id + "]",
			limit: GSM7Limit},
		{name: "Cyrillic is UCS-2: cut at 70 with the ellipsis character",
			m:      notify.Message{AlarmID: id, Subject: "АВАРИЯ критично: ИБП работает от батареи уже пять минут, нагрузка шестьдесят процентов [" + id + "]"},
			prefix: "АВАРИЯ критично: ИБП работает от батареи", ellipsis: "…", limit: UCS2Limit},
		{name: "emoji count as two UCS-2 units",
			m:      notify.Message{AlarmID: id, Subject: strings.Repeat("🔥", 60)},
			prefix: "🔥🔥🔥🔥🔥", ellipsis: "…", limit: UCS2Limit, wantUnits: 2*29 + 1 + len(" ["+id+"]")},
		{name: "extension characters cost two septets",
			m:      notify.Message{AlarmID: id, Subject: strings.Repeat("{", 100)},
			prefix: "{{{{", ellipsis: "...", limit: GSM7Limit, wantUnits: 160}, // 72 × 2 + "..." + " [id]" where [ and ] cost 2
		{name: "exactly 160 septets is not cut",
			m:     notify.Message{AlarmID: id, Subject: strings.Repeat("x", 160-len(" ["+id+"]")-2)},
			want:  strings.Repeat("x", 160-len(" ["+id+"]")-2) + " [" + id + "]",
			limit: GSM7Limit, wantUnits: 160},
		{name: "161 septets is cut",
			m:      notify.Message{AlarmID: id, Subject: strings.Repeat("x", 160-len(" ["+id+"]")-1)},
			prefix: "xxxxxxxx", ellipsis: "...", limit: GSM7Limit, wantUnits: 160},
		{name: "no alarm id",
			m:     notify.Message{Subject: "FIRING x"},
			want:  "FIRING x",
			limit: GSM7Limit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SMSText(tc.m)
			n, limit := SMSUnits(got)
			t.Logf("%d/%d units: %q", n, limit, got)
			if limit != tc.limit {
				t.Errorf("encoding limit %d, want %d", limit, tc.limit)
			}
			if n > limit {
				t.Errorf("%d units exceed one SMS (%d)", n, limit)
			}
			if tc.wantUnits != 0 && n != tc.wantUnits {
				t.Errorf("%d units, want %d", n, tc.wantUnits)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("%q does not start with %q", got, tc.prefix)
			}
			if tc.m.AlarmID != "" {
				if !strings.HasSuffix(got, " ["+tc.m.AlarmID+"]") || strings.Count(got, tc.m.AlarmID) != 1 {
					t.Errorf("%q: alarm id not exactly once at the end", got)
				}
			}
			if tc.ellipsis != "" && !strings.Contains(got, tc.ellipsis+" ["+tc.m.AlarmID+"]") {
				t.Errorf("%q: want truncation mark %q before the id", got, tc.ellipsis)
			}
			if tc.ellipsis == "..." && !IsGSM7(got) {
				t.Errorf("%q: a GSM-7 text became UCS-2", got)
			}
		})
	}
}

func TestSMSTextCutsAtWordBoundary(t *testing.T) {
	m := notify.Message{AlarmID: "zz9", Subject: strings.Repeat("word ", 60)}
	got := SMSText(m)
	if !strings.HasSuffix(got, "word... [zz9]") {
		t.Fatalf("want a cut after a whole word, got %q", got)
	}
}

func TestIsGSM7(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Hello @ £5 ÄÖÜ äöü è é ù ì ò à", true},
		{"{}[]~^|€\\", true},
		{"°", false},
		{"…", false},
		{"á", false}, // not in GSM 03.38 (only à)
		{"Привет", false},
	} {
		if got := IsGSM7(tc.s); got != tc.want {
			t.Errorf("IsGSM7(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

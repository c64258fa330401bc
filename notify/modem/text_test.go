package modem

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/vedetta-dc/vedetta/notify"
)

func septets(s string) int { return length(s, gsmCost) }

func units(s string) int { return len(utf16.Encode([]rune(s))) }

func TestBuildText(t *testing.T) {
	long := strings.Repeat("disk temperature rising ", 20) // 480 chars
	tests := []struct {
		name     string
		msg      notify.Message
		want     string // exact text, when set
		ucs2     bool
		maxLen   int    // septets (GSM) or UTF-16 units (UCS-2), when set
		suffix   string // required ending, when set
		contains string
		reply    bool // replies are read: say how to acknowledge
	}{
		{name: "short ascii unchanged", msg: notify.Message{Subject: "UPS-2 on battery [a1b2c3d4e5]"},
			want: "UPS-2 on battery [a1b2c3d4e5]"},
		{name: "long ascii truncated to 160 keeping the id", msg: notify.Message{Subject: long + "[a1b2c3d4e5]"},
			maxLen: 160, suffix: "... [a1b2c3d4e5]", contains: "disk temperature rising"},
		{name: "long ucs2 truncated to 70 keeping the id", msg: notify.Message{Subject: "Température élevée " + long + "[a1b2c3d4e5]"},
			ucs2: true, maxLen: 70, suffix: "… [a1b2c3d4e5]", contains: "Température élevée"},
		{name: "non-gsm char past the cut stays gsm", msg: notify.Message{Subject: long + "é [a1b2c3d4e5]"},
			maxLen: 160, suffix: "... [a1b2c3d4e5]"},
		{name: "extension chars take two septets", msg: notify.Message{Subject: strings.Repeat("{", 100) + " [id1234]"},
			maxLen: 160, suffix: "... [id1234]"},
		{name: "emoji counts as a surrogate pair", msg: notify.Message{Subject: strings.Repeat("🔥", 50) + " [abc12345]"},
			ucs2: true, maxLen: 70, suffix: "… [abc12345]"},
		{name: "alarm id appended when the subject lacks it", msg: notify.Message{Subject: "PDU A overload", AlarmID: "ff00ff00ff"},
			want: "PDU A overload [ff00ff00ff]"},
		{name: "alarm id not repeated", msg: notify.Message{Subject: "ff00ff00ff: PDU A overload", AlarmID: "ff00ff00ff"},
			want: "ff00ff00ff: PDU A overload"},
		{name: "control characters cannot end the text", msg: notify.Message{Subject: "a\x1ab\x1bc\r\nd\t e [x1y2z3]"},
			want: "a b c d e [x1y2z3]"},
		{name: "body first line without subject", msg: notify.Message{Body: "\n  first line\nsecond"},
			want: "first line"},
		{name: "how to acknowledge by a reply", msg: notify.Message{Subject: "UPS-2 on battery", AlarmID: "a1b2c3d4e5"}, reply: true,
			want: "UPS-2 on battery [a1b2c3d4e5] Reply a1b2 ACK/ESC/RES"},
		{name: "truncation keeps the id and the reply", msg: notify.Message{Subject: long, AlarmID: "a1b2c3d4e5"}, reply: true,
			maxLen: 160, suffix: "... [a1b2c3d4e5] Reply a1b2 ACK/ESC/RES"},
		{name: "no reply without an id", msg: notify.Message{Subject: "Acknowledged 4a7b"}, reply: true, want: "Acknowledged 4a7b"},
		{name: "backtick forces ucs2", msg: notify.Message{Subject: "run `reboot`"}, want: "run `reboot`", ucs2: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildText(tc.msg, tc.reply)
			if err != nil {
				t.Fatal(err)
			}
			if got.UCS2 != tc.ucs2 {
				t.Errorf("UCS2 = %v, want %v (text %q)", got.UCS2, tc.ucs2, got.Text)
			}
			if tc.want != "" && got.Text != tc.want {
				t.Errorf("text = %q, want %q", got.Text, tc.want)
			}
			if tc.maxLen > 0 {
				n := septets(got.Text)
				if got.UCS2 {
					n = units(got.Text)
				}
				if n > tc.maxLen || n < tc.maxLen-2 {
					t.Errorf("length %d, want %d (at most, and not much less): %q", n, tc.maxLen, got.Text)
				}
			}
			if !strings.HasSuffix(got.Text, tc.suffix) {
				t.Errorf("text %q does not end with %q", got.Text, tc.suffix)
			}
			if !strings.Contains(got.Text, tc.contains) {
				t.Errorf("text %q does not contain %q", got.Text, tc.contains)
			}
		})
	}
}

func TestBuildTextEmpty(t *testing.T) {
	if _, err := buildText(notify.Message{Subject: " \t", Body: "\n"}, false); err == nil {
		t.Fatal("empty message accepted")
	}
}

func TestGSMFallback(t *testing.T) {
	txt, err := buildText(notify.Message{Subject: "Température élevée — salle 2 [a1b2c3d4e5]"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !txt.UCS2 {
		t.Fatal("expected UCS-2")
	}
	if got, want := txt.gsmFallback(), "Temperature elevee ? salle 2 [a1b2c3d4e5]"; got != want {
		t.Errorf("fallback = %q, want %q", got, want)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+393331234567", "+393331234567", true},
		{"+39 333 123-4567", "+393331234567", true},
		{"(0039) 333.1234567", "00393331234567", true},
		{"+39333123456\"7", "", false},
		{"", "", false},
		{"abc", "", false},
		{"+12", "", false},
	}
	for _, tc := range tests {
		got, err := number(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("number(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestUCS2Hex(t *testing.T) {
	if got, want := ucs2Hex("+39é🔥"), "002B0033003900E9D83DDD25"; got != want {
		t.Errorf("ucs2Hex = %s, want %s", got, want)
	}
}

func TestParse(t *testing.T) {
	cregs := []struct {
		info []string
		stat int
		ok   bool
	}{
		{[]string{"0,1"}, 1, true},
		{[]string{"2,5,\"00C3\",\"0010\""}, 5, true},
		{[]string{"0,0"}, 0, true},
		{[]string{"1", "0,1"}, 1, true},                   // unsolicited "+CREG: 1" before the answer
		{[]string{"0,1", "1,\"00C3\",\"0010\""}, 1, true}, // unsolicited with location after it
		{[]string{"1"}, 0, false},
		{nil, 0, false},
	}
	for _, tc := range cregs {
		stat, ok := parseCREG(tc.info)
		if stat != tc.stat || ok != tc.ok {
			t.Errorf("parseCREG(%q) = %d, %v; want %d, %v", tc.info, stat, ok, tc.stat, tc.ok)
		}
	}
	csqs := []struct {
		info []string
		rssi int
		ok   bool
	}{
		{[]string{"20,99"}, 20, true},
		{[]string{"99,99"}, 99, true},
		{[]string{"45,0"}, 0, false},
		{[]string{"x"}, 0, false},
	}
	for _, tc := range csqs {
		rssi, ok := parseCSQ(tc.info)
		if rssi != tc.rssi || ok != tc.ok {
			t.Errorf("parseCSQ(%q) = %d, %v; want %d, %v", tc.info, rssi, ok, tc.rssi, tc.ok)
		}
	}
}

func TestRedactAndErrors(t *testing.T) {
	if got := redact(`AT+CPIN="1234"`); strings.Contains(got, "1234") {
		t.Errorf("redact left the PIN: %s", got)
	}
	tests := []struct {
		line      string
		permanent bool
	}{
		{"ERROR", true},
		{"+CMS ERROR: 21", true},
		{"+CMS ERROR: 28", true},
		{"+CMS ERROR: 1", true},
		{"+CMS ERROR: 38", false},
		{"+CMS ERROR: 42", false},
		{"+CMS ERROR: 331", false},
		{"+CMS ERROR: 532", false},
		{"+CME ERROR: 10", true},
		{"+CME ERROR: 14", false},
		{"+CME ERROR: 30", false},
	}
	for _, tc := range tests {
		err := sendError(parseError("AT+CMGS", tc.line))
		if notify.IsPermanent(err) != tc.permanent {
			t.Errorf("%s: permanent = %v, want %v", tc.line, notify.IsPermanent(err), tc.permanent)
		}
	}
}

// FuzzBuildText: whatever the subject, the text fits one SMS in the coding
// it claims and cannot end or cancel the AT+CMGS text early.
func FuzzBuildText(f *testing.F) {
	f.Add("UPS-2 on battery [a1b2c3d4e5]", "a1b2c3d4e5", true)
	f.Add(strings.Repeat("Température ", 30)+"[x]", "", false)
	f.Add(strings.Repeat("{🔥", 100), "id", true)
	f.Add("\x1a\x1b[", "]", false)
	f.Fuzz(func(t *testing.T, subject, id string, reply bool) {
		txt, err := buildText(notify.Message{Subject: subject, AlarmID: id}, reply)
		if err != nil {
			return
		}
		if txt.Text == "" || strings.ContainsAny(txt.Text, "\x1a\x1b\r\n") {
			t.Fatalf("bad text %q", txt.Text)
		}
		if txt.UCS2 && units(txt.Text) > ucs2Limit {
			t.Fatalf("UCS-2 text of %d units: %q", units(txt.Text), txt.Text)
		}
		if !txt.UCS2 && (!isGSM(txt.Text) || septets(txt.Text) > gsmLimit) {
			t.Fatalf("GSM text not GSM or %d septets: %q", septets(txt.Text), txt.Text)
		}
		if fb := txt.gsmFallback(); !isGSM(fb) || septets(fb) > gsmLimit {
			t.Fatalf("fallback %q", fb)
		}
	})
}

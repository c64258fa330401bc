package notify

import (
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		body, code, verb string
		ok               bool
	}{
		{"4a7b ACK", "4a7b", "ACK", true},
		{"ack 4A7B", "4a7b", "ACK", true},
		{"[4a7b1c2d3e] ack", "4a7b1c2d3e", "ACK", true},
		{"  4a7b\tAck \r\n", "4a7b", "ACK", true},
		{"4a7b ESC", "4a7b", "ESC", true},
		{"res 4a7b", "4a7b", "RES", true},
		{"ACK", "", "ACK", true}, // the latest alarm sent to that number
		{"esc", "", "ESC", true},
		{"4a7b", "", "", false},
		{"4a7b ACK please", "", "", false},
		{"4a7b STOP", "", "", false},
		{"ab ACK", "", "", false},    // too short to be a code
		{"4a-7b ACK", "", "", false}, // not letters and digits
		{"STOP", "", "", false},      // carrier keywords are not ours
		{"", "", "", false},
	} {
		code, verb, ok := ParseReply(tc.body)
		if code != tc.code || verb != tc.verb || ok != tc.ok {
			t.Errorf("ParseReply(%q) = %q, %q, %v; want %q, %q, %v", tc.body, code, verb, ok, tc.code, tc.verb, tc.ok)
		}
	}
}

// Whatever arrives by SMS: a reply understood has a verb the body names
// and, unless the verb stands alone, a code of 3 to 64 lower-case letters
// and digits the body names too.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"4a7b ACK", "[4a7b1c2d3e] ack", "ACK ACK", "\x00 ack", "ÄÖÜ ACK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, verb, ok := ParseReply(body)
		if !ok {
			if code != "" || verb != "" {
				t.Fatalf("code %q verb %q without ok", code, verb)
			}
			return
		}
		if !isVerb(verb) || !strings.Contains(strings.ToUpper(body), verb) {
			t.Fatalf("ParseReply(%q): verb %q", body, verb)
		}
		if code != "" && (len(code) < 3 || len(code) > 64 || strings.ToLower(code) != code || !strings.Contains(strings.ToLower(body), code)) {
			t.Fatalf("ParseReply(%q) = %q", body, code)
		}
	})
}

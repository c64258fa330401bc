package notify

import (
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		body, code string
		ok         bool
	}{
		{"4a7b ACK", "4a7b", true},
		{"ack 4A7B", "4a7b", true},
		{"[4a7b1c2d3e] ack", "4a7b1c2d3e", true},
		{"  4a7b\tAck \r\n", "4a7b", true},
		{"4a7b", "", false},
		{"4a7b ACK please", "", false},
		{"4a7b ESC", "", false},
		{"ab ACK", "", false},    // too short to be a code
		{"4a-7b ACK", "", false}, // not letters and digits
		{"STOP", "", false},      // carrier keywords are not ours
		{"", "", false},
	} {
		code, ok := ParseReply(tc.body)
		if code != tc.code || ok != tc.ok {
			t.Errorf("ParseReply(%q) = %q, %v; want %q, %v", tc.body, code, ok, tc.code, tc.ok)
		}
	}
}

// Whatever arrives by SMS: a reply understood has a code of 3 to 64
// lower-case letters and digits, and the body names it.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"4a7b ACK", "[4a7b1c2d3e] ack", "ACK ACK", "\x00 ack", "ÄÖÜ ACK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, ok := ParseReply(body)
		if !ok {
			if code != "" {
				t.Fatalf("code %q without ok", code)
			}
			return
		}
		if len(code) < 3 || len(code) > 64 || strings.ToLower(code) != code || !strings.Contains(strings.ToLower(body), code) {
			t.Fatalf("ParseReply(%q) = %q", body, code)
		}
	})
}

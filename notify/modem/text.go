package modem

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"

	"github.com/vedetta-dc/vedetta/notify"
)

// One SMS, no concatenation: 160 septets of GSM-7 or 70 UTF-16 units of
// UCS-2 (3GPP TS 23.038/23.040).
const (
	gsmLimit  = 160
	ucs2Limit = 70
)

// Text encoding, a deliberate choice:
//
//   - Text made only of the ASCII characters that exist in the GSM 03.38
//     alphabet (printable ASCII except the backtick) is sent as GSM-7 with
//     AT+CSCS="IRA": the only TE character set every modem maps to GSM-7 the
//     same way. Up to 160 septets; ^ { } \ [ ] ~ | take two (escape).
//   - Anything else (accents, €, Cyrillic, emoji…) is sent as UCS-2:
//     AT+CSCS="UCS2", AT+CSMP=17,167,0,8 (data coding scheme 8), the text
//     and the number hex-encoded as UTF-16BE. Up to 70 UTF-16 units.
//   - A modem that refuses UCS-2 gets a transliteration (accents stripped,
//     other characters as '?') in GSM-7, so the alarm still goes out.
//
// Too long a text is truncated on purpose with an ellipsis — "…" in UCS-2,
// "..." in GSM-7 (U+2026 is not in the GSM alphabet and would force UCS-2)
// — keeping the alarm id, the "[id]" at the end of the subject.

type smsText struct {
	Text string
	UCS2 bool
	src  string // before truncation, for the transliteration fallback
}

// gsmFallback is the text in GSM-7 for a modem that refuses UCS-2.
func (t smsText) gsmFallback() string {
	return fit(transliterate(t.src), gsmLimit, gsmCost, "...")
}

// trailingID is the "[id]" a message ends with, and how to acknowledge it
// by a reply when replies are read: truncation keeps both.
var trailingID = regexp.MustCompile(`\s*(\[[^\[\]]+\](?: Reply [0-9a-z]+ ACK/ESC/RES)?)$`)

// buildText makes the one-SMS text of m from its subject (or, without one,
// the first line of its body); with reply, it ends with how to acknowledge
// it: "... [4a7b1c2d3e] Reply 4a7b ACK/ESC/RES".
func buildText(m notify.Message, reply bool) (smsText, error) {
	src := clean(m.Subject)
	if src == "" {
		for _, l := range strings.Split(m.Body, "\n") {
			if src = clean(l); src != "" {
				break
			}
		}
	}
	if src == "" {
		return smsText{}, errors.New("empty message")
	}
	if !trailingID.MatchString(src) && m.AlarmID != "" && !strings.Contains(src, m.AlarmID) {
		src += " [" + clean(m.AlarmID) + "]"
	}
	if id := clean(m.AlarmID); reply && id != "" && trailingID.MatchString(src) && !strings.HasSuffix(src, " ACK/ESC/RES") {
		src += notify.ReplySuffix(id)
	}
	if isGSM(src) {
		return smsText{Text: fit(src, gsmLimit, gsmCost, "..."), src: src}, nil
	}
	// The part that makes it UCS-2 may fall in what truncation drops.
	if t := fit(src, gsmLimit, gsmCost, "..."); isGSM(t) {
		return smsText{Text: t, src: src}, nil
	}
	return smsText{Text: fit(src, ucs2Limit, ucs2Cost, "…"), UCS2: true, src: src}, nil
}

// clean turns control characters (Ctrl-Z and ESC would end or cancel the
// AT+CMGS text) and runs of white space into one space.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// fit truncates s to limit (as counted by cost) with the ellipsis, keeping
// a trailing "[id]".
func fit(s string, limit int, cost func(rune) int, ellipsis string) string {
	if length(s, cost) <= limit {
		return s
	}
	head, suffix := s, ""
	if loc := trailingID.FindStringSubmatchIndex(s); loc != nil {
		head, suffix = s[:loc[0]], " "+s[loc[2]:loc[3]]
	}
	budget := limit - length(ellipsis, cost) - length(suffix, cost)
	if budget < 10 { // an id too long to keep: plain truncation
		head, suffix = s, ""
		budget = limit - length(ellipsis, cost)
	}
	var b strings.Builder
	n := 0
	for _, r := range head {
		if n+cost(r) > budget {
			break
		}
		n += cost(r)
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ") + ellipsis + suffix
}

func length(s string, cost func(rune) int) int {
	n := 0
	for _, r := range s {
		n += cost(r)
	}
	return n
}

// gsmCost counts septets: the GSM 03.38 extension characters take an
// escape and the character.
func gsmCost(r rune) int {
	if strings.ContainsRune("^{}\\[]~|€", r) {
		return 2
	}
	return 1
}

// ucs2Cost counts UTF-16 units: a character beyond the BMP is a pair.
func ucs2Cost(r rune) int {
	if utf16.RuneLen(r) == 2 {
		return 2
	}
	return 1
}

// isGSM reports whether s is made only of printable ASCII characters that
// the GSM 7-bit alphabet has (all but the backtick).
func isGSM(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '`' {
			return false
		}
	}
	return true
}

// transliterate folds s into the GSM-safe ASCII subset: accents stripped,
// anything else '?'.
func transliterate(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == '`':
			b.WriteRune('\'')
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		default:
			b.WriteRune('?')
		}
	}
	return b.String()
}

// ucs2Hex encodes s as UTF-16BE in upper-case hex, as AT+CSCS="UCS2" wants
// for every string parameter and for the text.
func ucs2Hex(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	return b.String()
}

var numberRE = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// number normalises a recipient: spaces, dashes, dots and parentheses are
// dropped; what remains must be digits with an optional leading '+'.
func number(rec string) (string, error) {
	n := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()\t", r) {
			return -1
		}
		return r
	}, rec)
	if !numberRE.MatchString(n) {
		return "", fmt.Errorf("invalid phone number %q", rec)
	}
	return n, nil
}

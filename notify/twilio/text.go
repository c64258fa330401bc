package twilio

import (
	"strings"
	"unicode/utf8"

	"github.com/vedetta-dc/vedetta/notify"
)

// One SMS holds 160 GSM-7 septets, or 70 UCS-2 code units as soon as one
// character is outside the GSM-7 alphabet. Longer texts are split into
// segments (153/67 each), billed and delivered separately, sometimes out of
// order: an alarm must fit in one.
const (
	GSM7Limit = 160
	UCS2Limit = 70
)

// gsm7Basic is the GSM 03.38 default alphabet (one septet each, without the
// escape code); gsm7Ext are the extension-table characters that cost two.
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "\f^{}\\[~]|€"
)

// smartGSM replaces common typographic characters with GSM-7 equivalents,
// so that one "°" or "…" does not halve the room (what Twilio calls smart
// encoding, done here so that the modem path gets it too).
var smartGSM = strings.NewReplacer(
	"°C", "C", "°F", "F", "°", " deg",
	"‘", "'", "’", "'", "‚", "'", "“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`,
	"–", "-", "—", "-", "−", "-", "…", "...", "•", "*", "×", "x", "÷", "/",
	"µ", "u", "μ", "u", "±", "+/-", "→", "->", "←", "<-", "≥", ">=", "≤", "<=", "≠", "!=",
	"\u00a0", " ", "\u2009", " ", "\u202f", " ", "\t", " ",
)

// IsGSM7 reports whether s can be sent in the GSM-7 alphabet.
func IsGSM7(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(gsm7Basic, r) && !strings.ContainsRune(gsm7Ext, r) {
			return false
		}
	}
	return true
}

// SMSUnits is the length of s in the units of its encoding (septets for
// GSM-7, UTF-16 code units for UCS-2) and the one-SMS limit that applies.
func SMSUnits(s string) (n, limit int) {
	if IsGSM7(s) {
		for _, r := range s {
			n += runeUnits(r, true)
		}
		return n, GSM7Limit
	}
	for _, r := range s {
		n += runeUnits(r, false)
	}
	return n, UCS2Limit
}

func runeUnits(r rune, gsm bool) int {
	switch {
	case gsm && strings.ContainsRune(gsm7Ext, r):
		return 2
	case !gsm && r > 0xFFFF:
		return 2 // a surrogate pair
	}
	return 1
}

// SMSText shapes a notification into the text of exactly one SMS: the
// subject (or the body's first line), whitespace collapsed, typographic
// characters folded into GSM-7 where an equivalent exists, and the alarm id
// always last as " [ID]" (the brackets, like the e-mail subject's; in
// GSM-7 they cost two septets each), so a person can spot a repeat and quote it to
// acknowledge. A text that does not fit is cut at a word boundary where
// possible and marked "..." (GSM-7) or "…" (UCS-2): a literal "…" in a GSM-7
// text would switch the whole SMS to UCS-2 and leave 70 characters.
func SMSText(m notify.Message) string { return smsText(m, false) }

// SMSTextReply is SMSText ending with how to acknowledge by a reply, after
// the id: "... [4a7b1c2d3e] Reply 4a7b ACK/ESC/RES" (what the inbound webhook
// understands).
func SMSTextReply(m notify.Message) string { return smsText(m, true) }

func smsText(m notify.Message, reply bool) string {
	src := m.Subject
	if strings.TrimSpace(src) == "" {
		for _, l := range strings.Split(m.Body, "\n") {
			if strings.TrimSpace(l) != "" {
				src = l
				break
			}
		}
	}
	suffix := ""
	if id := strings.Join(strings.Fields(m.AlarmID), ""); id != "" {
		src = strings.Replace(src, "["+id+"]", " ", 1)
		suffix = " [" + id + "]"
		if reply {
			suffix += notify.ReplySuffix(id)
		}
	}
	text := strings.Join(strings.Fields(smartGSM.Replace(src)), " ")
	if text == "" {
		text = strings.TrimSpace(m.Event + " " + m.Severity)
	}
	if n, limit := SMSUnits(text + suffix); n <= limit {
		return strings.TrimSpace(text + suffix)
	}
	gsm := IsGSM7(text + suffix)
	limit, ellipsis := GSM7Limit, "..."
	if !gsm {
		limit, ellipsis = UCS2Limit, "…"
	}
	room := limit - units(ellipsis+suffix, gsm)
	if room <= 0 { // an absurdly long id: send what fits of it
		return cutUnits(suffix, limit, gsm)
	}
	cut := cutUnits(text, room, gsm)
	// Prefer a word boundary when it costs at most 20 characters.
	if i := strings.LastIndexByte(cut, ' '); i > 0 && utf8.RuneCountInString(cut[i:]) <= 20 {
		cut = cut[:i]
	}
	cut = strings.TrimRight(cut, " ,;:-")
	return cut + ellipsis + suffix
}

func units(s string, gsm bool) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r, gsm)
	}
	return n
}

// cutUnits returns the longest prefix of s within max units (never half a
// character or half a surrogate pair).
func cutUnits(s string, max int, gsm bool) string {
	n := 0
	for i, r := range s {
		n += runeUnits(r, gsm)
		if n > max {
			return s[:i]
		}
	}
	return s
}

package notify

import "strings"

// Reply verbs: ACK acknowledges (4 h, as `vedetta ack`), RES acknowledges
// until the alarm resolves, ESC calls the next escalation step now.
const (
	VerbAck = "ACK"
	VerbRes = "RES"
	VerbEsc = "ESC"
)

// ReplyHint answers a reply that is not understood.
const ReplyHint = "Not understood. Reply with the code and ACK, ESC or RES, e.g. 4a7b ACK (ACK alone: the latest alarm)"

// ReplySuffix ends an SMS with how to answer it: " Reply 4a7b ACK/ESC/RES".
func ReplySuffix(id string) string { return " Reply " + ReplyCode(id) + " ACK/ESC/RES" }

// ParseReply understands an SMS reply: "4a7b ACK", "ACK 4a7b", "[4a7b1c2d3e]
// esc", any case, with ACK, ESC or RES; or the verb alone ("ACK"), which
// means the latest alarm sent to that number (code ""). It returns the code
// in lower case and the verb in upper case. Replies come from Twilio's
// webhook and from a GSM modem's inbox alike.
func ParseReply(body string) (code, verb string, ok bool) {
	f := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(body))
	switch len(f) {
	case 1:
		if v := strings.ToUpper(f[0]); isVerb(v) {
			return "", v, true
		}
		return "", "", false
	case 2:
	default:
		return "", "", false
	}
	code, verb = f[0], strings.ToUpper(f[1])
	if isVerb(strings.ToUpper(code)) && !isVerb(verb) {
		code, verb = f[1], strings.ToUpper(f[0])
	}
	if !isVerb(verb) || !isCode(code) {
		return "", "", false
	}
	return strings.ToLower(code), verb, true
}

func isVerb(v string) bool { return v == VerbAck || v == VerbRes || v == VerbEsc }

// isCode: an id or its prefix, 3 to 64 letters and digits.
func isCode(s string) bool {
	if len(s) < 3 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

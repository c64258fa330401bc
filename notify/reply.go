package notify

import "strings"

// ParseReply understands an SMS reply that acknowledges: "4a7b ACK", "ACK
// 4a7b" and "[4a7b1c2d3e] ack" (the code or the whole id quoted from the
// SMS, any case). It returns the code in lower case. Replies come from
// Twilio's webhook and from a GSM modem's inbox alike.
func ParseReply(body string) (code string, ok bool) {
	f := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(body))
	if len(f) != 2 {
		return "", false
	}
	code, verb := f[0], f[1]
	if strings.EqualFold(code, "ack") {
		code, verb = verb, code
	}
	if !strings.EqualFold(verb, "ack") || !isCode(code) {
		return "", false
	}
	return strings.ToLower(code), true
}

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

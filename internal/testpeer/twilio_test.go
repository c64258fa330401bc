package testpeer

import (
	"net/url"
	"testing"
)

// The signer follows Twilio's documented algorithm: the example twilio-go's
// own validator is tested with (client/request_validator_test.go).
func TestTwilioSignatureMatchesTwilioExample(t *testing.T) {
	form := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"},
		"From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	if got, want := TwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form), "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

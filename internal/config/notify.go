package config

import "time"

// SMS is the SMS channel: providers tried in order for each message.
type SMS struct {
	Providers []SMSProvider `yaml:"providers"`
	// RetryFor bounds the retries on one provider before failing over.
	RetryFor time.Duration `yaml:"retry_for"`
	// MinInterval is the least time between two SMS to one number; alarms in
	// between are sent as one digest (never dropped). Default 1m.
	MinInterval time.Duration `yaml:"min_interval"`
}

// SMSProvider is one way to send SMS: exactly one of Twilio or Modem.
type SMSProvider struct {
	Name   string  `yaml:"name"`
	Twilio *Twilio `yaml:"twilio"`
	Modem  *Modem  `yaml:"modem"`
}

// Twilio is a Twilio account (or a number on it).
type Twilio struct {
	AccountSID          string `yaml:"account_sid"`
	AuthToken           Secret `yaml:"auth_token"`
	From                string `yaml:"from"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// APIURL defaults to https://api.twilio.com; tests point it at a
	// Twilio-speaking server on 127.0.0.1.
	APIURL  string        `yaml:"api_url"`
	Timeout time.Duration `yaml:"timeout"`
	// StatusTimeout is how long to follow a message's status after Twilio
	// accepted it; failed/undelivered within it fails over to the next
	// provider. Default 60s.
	StatusTimeout time.Duration `yaml:"status_timeout"`
	StatusPoll    time.Duration `yaml:"status_poll"`
}

// Modem is a GSM modem on a serial port: the path that still works when the
// uplink is down.
type Modem struct {
	Device         string        `yaml:"device"`
	Baud           int           `yaml:"baud"`
	PIN            Secret        `yaml:"pin"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	ProbeInterval  time.Duration `yaml:"probe_interval"`
}

// Webhook posts a JSON document per notification.
type Webhook struct {
	Name    string            `yaml:"name"`
	URL     string            `yaml:"url"`
	Secret  Secret            `yaml:"secret"` // HMAC-SHA256 of the body, in X-Vedetta-Signature
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
}

// Heartbeat is the dead-man's switch: an HTTP GET to URL every Interval.
type Heartbeat struct {
	URL      string        `yaml:"url"`
	Interval time.Duration `yaml:"interval"`
}

package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// SMS is the SMS channel: providers tried in order for each message.
type SMS struct {
	Providers []SMSProvider `yaml:"providers"`
	// FailoverAfter is how long a provider other than the last may go
	// without answering before the message moves on to the next one (a
	// refusal, a 5xx or a timeout moves it on at once). Default 5s.
	FailoverAfter time.Duration `yaml:"failover_after"`
	// RetryFor is the removed retry_for key: kept only to refuse it with a
	// sentence saying what replaced it.
	RetryFor *yaml.Node `yaml:"retry_for"`
	// MinInterval is how often a number's SMS bucket gets a token back;
	// Burst is its size (default 3). A new critical alarm goes even with
	// the bucket empty; the rest waits for a token and goes as one digest
	// (never dropped). Default 1m.
	MinInterval time.Duration `yaml:"min_interval"`
	Burst       int           `yaml:"burst"`
}

// SMSProvider is one way to send SMS: a name and one block named by the
// provider's kind (twilio:, modem:...), which the provider's own package
// decodes and validates (Config.Block): the config does not know the
// providers.
type SMSProvider struct {
	Name string `yaml:"name"`
	// Options holds the kind's block; Kind says which.
	Options *yaml.Node `yaml:",remain"`
}

// Kind is the provider's kind (the key of its one block) and that block,
// or "" when there is not exactly one.
func (p SMSProvider) Kind() (string, *yaml.Node) {
	if p.Options == nil || p.Options.Kind != yaml.MappingNode || len(p.Options.Content) != 2 {
		return "", nil
	}
	return p.Options.Content[0].Value, p.Options.Content[1]
}

// Voice is the voice channel: phone calls that read the alarm and take a
// key (4 acknowledges), through providers tried in order (twilio:, decoded
// by notify/twilio). It needs http.external_url: the call's key comes back
// there.
type Voice struct {
	Providers []SMSProvider `yaml:"providers"`
	// FailoverAfter: as for SMS, how long a provider other than the last
	// may go without accepting the call. Default 5s.
	FailoverAfter time.Duration `yaml:"failover_after"`
}

// Webhook is one webhook: its name (receivers list it) and every other key
// (url, secret, headers, timeout), decoded and checked by notify/webhook.
type Webhook struct {
	Name    string     `yaml:"name"`
	Options *yaml.Node `yaml:",remain"`
}

// Heartbeat is the dead-man's switch: an HTTP GET to URL every Interval.
type Heartbeat struct {
	URL      string        `yaml:"url"`
	Interval time.Duration `yaml:"interval"`
}

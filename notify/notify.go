// Package notify defines the one seam every delivery channel implements,
// and how a channel says whether a failure is worth retrying.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Message is one notification to one recipient on one channel.
type Message struct {
	// Key is the idempotency key: the same key is the same notification,
	// however often it is retried (it becomes the e-mail's Message-ID).
	Key       string
	AlarmID   string
	Event     string // firing | resolved | stale
	Severity  string
	Recipient string
	Subject   string
	Body      string
	// Taken, when set, says a provider took this message before (its
	// sender stopped while following it): that provider is asked first,
	// and sending again only follows if it did not deliver.
	Taken *Taken
}

// Taken names the provider that took a message and its own id of it
// (Twilio's message SID).
type Taken struct {
	Provider, Ref string
}

// Follower is a provider that can be asked, later and by another process,
// how a message it took has fared: Follow returns as Send would once the
// message was taken (nil when delivered or still unconfirmed at its status
// timeout, Permanent when it failed, Temporary when the provider cannot be
// asked).
type Follower interface {
	Follow(ctx context.Context, m Message, ref string) error
}

// Notifier delivers messages on one channel. It returns which provider
// (relay, account) took the message.
type Notifier interface {
	Notify(ctx context.Context, m Message) (provider string, err error)
}

// Error classifies a failure: permanent failures are not retried on the
// same provider.
type Error struct {
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s: %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &Error{Permanent: true, Err: err} }

// Temporary marks err as worth retrying.
func Temporary(err error) error { return &Error{Err: err} }

// ErrUnanswered marks a delivery that reached the far side but was not
// taken: a call that rang and nobody answered (or acknowledged). The
// attempt failed, but the channel works: it is not a channel failure (a
// NotificationChannelDown alarm would call the same unanswering phone).
var ErrUnanswered = errors.New("reached but not answered")

// IsPermanent reports whether err was marked permanent. Unmarked errors are
// temporary: when unsure, try again rather than drop an alarm.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// ReplyCode is the short code an SMS offers for replies ("Reply 4a7b
// ACK"): the first four characters of the alarm's (or group's) id. A reply
// quoting it, or the whole id, is matched against what was sent to the
// replying number (dispatch.AckByReply).
func ReplyCode(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) > 4 {
		id = id[:4]
	}
	return id
}

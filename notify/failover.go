package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Provider is one way to deliver on a channel: an SMTP relay, a Twilio
// account, a GSM modem, a webhook URL. Send classifies its errors with
// Permanent/Temporary.
type Provider interface {
	Name() string
	Send(ctx context.Context, m Message) error
}

// Factory builds a provider of one kind from its block of the config:
// decode fills the kind's own options struct strictly (unknown keys,
// file:line errors).
type Factory func(name string, decode func(out any) error, log *slog.Logger) (Provider, error)

// Kind turns a provider package's New(name, Config, log) into its
// Factory: the registry line of a kind is Kind(pkg.New).
func Kind[C any, P Provider](newFn func(name string, cfg C, log *slog.Logger) (P, error)) Factory {
	return func(name string, decode func(out any) error, log *slog.Logger) (Provider, error) {
		var c C
		if err := decode(&c); err != nil {
			return nil, err
		}
		return newFn(name, c, log)
	}
}

// Prober is a provider that can check its health without sending a message
// (SMTP NOOP, a Twilio account fetch, AT+CSQ).
type Prober interface {
	Probe(ctx context.Context) error
}

// Failover is a channel made of providers tried in order, each once per
// round: fail over first, retry later. A temporary error (refused, 5xx, a
// timeout) moves the message on to the next provider at once, and so does
// a provider other than the last that has not answered within
// FailoverAfter (a hang): its attempt is cancelled. A permanent error moves
// on too. When every provider has failed the message goes back to the
// outbox (temporary, the dispatcher's backoff decides when the next round
// starts, from the first provider again), unless every provider refused it
// permanently. A failed provider is therefore tried again in the next
// round and by its health probe, never while a message waits on it.
type Failover struct {
	Channel   string
	Providers []Provider
	// FailoverAfter bounds how long a provider that is not the last may go
	// without answering (accepting or refusing) before the message moves on
	// to the next one; 0 leaves only the provider's own timeouts. A
	// provider that reports Accepted is no longer bounded (Twilio following
	// the status of a message it took). The last provider has no one to
	// hand over to: only its own timeouts bound it.
	FailoverAfter time.Duration
	// Log carries the channel already (log.With("channel", ...)): lines
	// here add only the provider.
	Log *slog.Logger
	// OnAttempt is told about every provider attempt (metrics, health).
	OnAttempt func(channel, provider string, err error)
}

// ErrNoAnswer is the cause of an attempt cut after FailoverAfter.
var ErrNoAnswer = errors.New("no answer within failover_after")

type acceptedKey struct{}

// Accepted tells the Failover running this send that the far side has
// taken the message (Twilio answered with a message SID): from now on the
// attempt is not cut by FailoverAfter, because moving on could only
// duplicate it. Outside a Failover it does nothing.
func Accepted(ctx context.Context) {
	if f, ok := ctx.Value(acceptedKey{}).(func()); ok {
		f()
	}
}

// Notify implements Notifier.
func (f *Failover) Notify(ctx context.Context, m Message) (string, error) {
	if len(f.Providers) == 0 {
		return "", Permanent(fmt.Errorf("%s: no provider configured", f.Channel))
	}
	var errs []error
	allPermanent := true
	for i, p := range f.Providers {
		start := time.Now()
		err := f.attempt(ctx, p, m, i < len(f.Providers)-1)
		if f.OnAttempt != nil {
			f.OnAttempt(f.Channel, p.Name(), err)
		}
		if err == nil {
			if i > 0 && f.Log != nil {
				f.Log.Info("delivered by a later provider", "provider", p.Name(), "key", m.Key,
					"providers_failed", i)
			}
			return p.Name(), nil
		}
		perm := IsPermanent(err)
		if f.Log != nil {
			f.Log.Warn("provider failed; next provider", "provider", p.Name(),
				"permanent", perm, "took", time.Since(start).Round(time.Millisecond), "err", err, "key", m.Key)
		}
		allPermanent = allPermanent && perm
		errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		if ctx.Err() != nil {
			allPermanent = false
			break
		}
	}
	err := errors.Join(errs...)
	if allPermanent {
		return "", Permanent(err)
	}
	return "", Temporary(err)
}

// attempt is one Send; bounded, it is cancelled when the provider has not
// answered nor reported Accepted within FailoverAfter.
func (f *Failover) attempt(ctx context.Context, p Provider, m Message, bounded bool) error {
	if !bounded || f.FailoverAfter <= 0 {
		return p.Send(ctx, m)
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	state := 0 // 0 waiting for an answer, 1 accepted, 2 cut
	t := time.AfterFunc(f.FailoverAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if state == 0 {
			state = 2
			cancel(ErrNoAnswer)
		}
	})
	defer t.Stop()
	accepted := func() {
		mu.Lock()
		defer mu.Unlock()
		if state == 0 {
			state = 1
			t.Stop()
		}
	}
	err := p.Send(context.WithValue(actx, acceptedKey{}, accepted), m)
	mu.Lock()
	cut := state == 2
	mu.Unlock()
	if cut && ctx.Err() == nil {
		if f.Log != nil {
			// The request may have reached the far side: the next provider
			// can duplicate it (the duplicate bound in the README).
			f.Log.Warn("provider did not answer within failover_after; it may still have taken the message",
				"provider", p.Name(), "failover_after", f.FailoverAfter, "key", m.Key)
		}
		if err == nil {
			return nil // it answered just as it was cut
		}
		return Temporary(fmt.Errorf("%w (%s): %w", ErrNoAnswer, f.FailoverAfter, err))
	}
	return err
}

// Probe checks every provider that can be probed; it returns one error per
// provider name (nil when healthy).
func (f *Failover) Probe(ctx context.Context) map[string]error {
	out := map[string]error{}
	for _, p := range f.Providers {
		if pr, ok := p.(Prober); ok {
			out[p.Name()] = pr.Probe(ctx)
		}
	}
	return out
}

// Backoff is the wait before retry number attempt (from 1): 0.5 s × 1.5ⁿ
// with ±50 % jitter, capped at 60 s (Alertmanager's curve, which relays and
// carriers tolerate).
func Backoff(attempt int) time.Duration {
	b := 0.5 * math.Pow(1.5, float64(max(attempt-1, 0)))
	b = math.Min(b, 60)
	b *= 0.5 + rand.Float64()
	return time.Duration(b * float64(time.Second))
}

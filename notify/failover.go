package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
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

// Failover is a channel made of providers tried in order. A temporary
// error is retried on the same provider with backoff for at most RetryFor,
// a permanent one moves on at once. When every provider has failed the
// message goes back to the outbox (temporary), unless every provider
// refused it permanently.
type Failover struct {
	Channel   string
	Providers []Provider
	RetryFor  time.Duration
	Log       *slog.Logger
	// OnAttempt is told about every provider attempt (metrics, health).
	OnAttempt func(channel, provider string, err error)
	// Sleep waits between retries; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Notify implements Notifier.
func (f *Failover) Notify(ctx context.Context, m Message) (string, error) {
	if len(f.Providers) == 0 {
		return "", Permanent(fmt.Errorf("%s: no provider configured", f.Channel))
	}
	sleep := f.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	var errs []error
	allPermanent := true
	for _, p := range f.Providers {
		deadline := time.Now().Add(f.RetryFor)
		for attempt := 1; ; attempt++ {
			err := p.Send(ctx, m)
			if f.OnAttempt != nil {
				f.OnAttempt(f.Channel, p.Name(), err)
			}
			if err == nil {
				return p.Name(), nil
			}
			perm := IsPermanent(err)
			if f.Log != nil {
				f.Log.Warn("provider failed", "channel", f.Channel, "provider", p.Name(), "attempt", attempt,
					"permanent", perm, "err", err, "key", m.Key)
			}
			if perm || ctx.Err() != nil {
				allPermanent = allPermanent && perm
				errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
				break
			}
			wait := Backoff(attempt)
			if time.Now().Add(wait).After(deadline) {
				allPermanent = false
				errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
				break
			}
			if sleep(ctx, wait) != nil {
				allPermanent = false
				errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	err := errors.Join(errs...)
	if allPermanent {
		return "", Permanent(err)
	}
	return "", Temporary(err)
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

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

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

// acceptHook is what Accepted reports to: the taken message (the
// provider's name, set by the Failover running the attempt, and its id
// there), or nil when a taken message's attempt failed after all (Twilio
// said "undelivered") and the message goes on to the next provider.
type acceptHook func(t *Taken)

// OnAccepted returns a context whose sends tell f when a provider that is a
// Follower has taken the message and, should that attempt still fail,
// that it did not (nil). The dispatcher records it, so that a node taking
// over asks that provider instead of sending again, and frees the send's
// slot: following an SMS's status must not hold up the next e-mail. f runs
// in the send's goroutine; hooks already in ctx are told after f.
func OnAccepted(ctx context.Context, f func(t *Taken)) context.Context {
	prev, _ := ctx.Value(acceptedKey{}).(acceptHook)
	return context.WithValue(ctx, acceptedKey{}, acceptHook(func(t *Taken) {
		f(t)
		if prev != nil {
			prev(t)
		}
	}))
}

// Accepted tells the Failover running this send that the far side has
// taken the message (Twilio answered with a message SID): from now on the
// attempt is not cut by FailoverAfter, because moving on could only
// duplicate it. Outside a Failover it does nothing.
func Accepted(ctx context.Context) { AcceptedAs(ctx, "") }

// AcceptedAs is Accepted with the provider's own id of the message, which
// its Follow takes.
func AcceptedAs(ctx context.Context, ref string) {
	if f, ok := ctx.Value(acceptedKey{}).(acceptHook); ok {
		f(&Taken{Ref: ref})
	}
}

// Notify implements Notifier.
func (f *Failover) Notify(ctx context.Context, m Message) (string, error) {
	if len(f.Providers) == 0 {
		return "", Permanent(fmt.Errorf("%s: no provider configured", f.Channel))
	}
	var errs []error
	allPermanent := true
	var skip string // the provider that took m and did not deliver it
	if m.Taken != nil {
		name, ok, err := f.follow(ctx, m)
		if ok && err == nil {
			return name, nil
		}
		if ok {
			skip = name
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			allPermanent = IsPermanent(err)
		}
		m.Taken = nil
	}
	for i, p := range f.Providers {
		if p.Name() == skip {
			continue // it had the message: sending it there again is the likeliest duplicate
		}
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

// attempt is one provider's try at m.
func (f *Failover) attempt(ctx context.Context, p Provider, m Message, bounded bool) error {
	// A Follower's Accepted reaches the caller's hook (OnAccepted) with
	// the provider's name, and an attempt that fails after it took the
	// message is reported as not taken after all.
	parent, _ := ctx.Value(acceptedKey{}).(acceptHook)
	if _, ok := p.(Follower); !ok {
		parent = nil
	}
	took := false // written and read in the send's goroutine only
	tell := func(t *Taken) {
		took = t != nil
		if parent != nil {
			parent(t)
		}
	}
	err := f.send(ctx, p, m, bounded, func(ref string) { tell(&Taken{Provider: p.Name(), Ref: ref}) })
	if err != nil && took {
		tell(nil)
	}
	return err
}

// follow asks the provider that took m how it fared (m.Taken); ok is false
// when that provider is not one of the channel's, or cannot be asked. A
// failure is reported to the caller's hook as the message not taken: the
// round goes on with the other providers.
func (f *Failover) follow(ctx context.Context, m Message) (name string, ok bool, err error) {
	for _, p := range f.Providers {
		fw, can := p.(Follower)
		if p.Name() != m.Taken.Provider || !can {
			continue
		}
		err := fw.Follow(ctx, m, m.Taken.Ref)
		if f.OnAttempt != nil {
			f.OnAttempt(f.Channel, p.Name(), err)
		}
		if err != nil {
			if parent, _ := ctx.Value(acceptedKey{}).(acceptHook); parent != nil {
				parent(nil)
			}
			if f.Log != nil {
				f.Log.Warn("the provider that took the message did not deliver it; next provider", "provider", p.Name(), "key", m.Key, "err", err)
			}
		}
		return p.Name(), true, err
	}
	return "", false, nil
}

// send is one attempt's Send with onAccepted as its Accepted hook;
// bounded, it is cancelled when the provider has not answered nor
// reported Accepted within FailoverAfter.
func (f *Failover) send(ctx context.Context, p Provider, m Message, bounded bool, onAccepted func(ref string)) error {
	if !bounded || f.FailoverAfter <= 0 {
		return p.Send(context.WithValue(ctx, acceptedKey{}, acceptHook(func(t *Taken) { onAccepted(t.Ref) })), m)
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
	accepted := acceptHook(func(tk *Taken) {
		mu.Lock()
		if state == 0 {
			state = 1
			t.Stop()
		}
		cut := state == 2
		mu.Unlock()
		if !cut {
			onAccepted(tk.Ref)
		}
	})
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

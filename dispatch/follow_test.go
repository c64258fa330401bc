package dispatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/notify"
)

// holdSMS takes every message at once with an id, as Twilio does, and then
// "follows" it until release is closed: real SMS take seconds to be
// confirmed delivered.
type holdSMS struct {
	release chan struct{}
	mu      sync.Mutex
	taken   map[string]bool
	sends   int
}

func (h *holdSMS) Name() string { return "hold" }

func (h *holdSMS) Send(ctx context.Context, m notify.Message) error {
	h.mu.Lock()
	h.sends++
	h.taken["SM-"+m.Key] = true
	h.mu.Unlock()
	notify.AcceptedAs(ctx, "SM-"+m.Key)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil
}

func (h *holdSMS) Follow(ctx context.Context, m notify.Message, ref string) error {
	return nil
}

// An SMS whose provider took it and that is only followed now gives its
// send slot back: with more SMS being followed than there are slots, every
// e-mail still goes at once. It used to wait for an SMS to be confirmed
// (the vedetta-bench poll latency's 1.1 s beyond the interval: 9 alarms
// in a second, 9 SMS followed for a second each, 8 slots).
func TestFollowedSMSDoNotHoldUpEmail(t *testing.T) {
	const n = 2 * maxParallelSends
	cfg := &config.Config{Notify: config.Notify{SMS: &config.SMS{MinInterval: time.Millisecond}}}
	for i := range n {
		r := fmt.Sprintf("r%d", i)
		cfg.Receivers = append(cfg.Receivers, config.Receiver{Name: r, Email: []string{r + "@dc1.example"}, SMS: []string{fmt.Sprintf("+3900%04d", i)}})
		cfg.Routes = append(cfg.Routes, config.Route{Match: map[string]string{"target": fmt.Sprintf("ups%d", i)}, Receivers: []string{r}})
	}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hold := &holdSMS{release: make(chan struct{}), taken: map[string]bool{}}
	mail := &sink{}
	d, err := NewDispatcher(st, cfg, map[string]notify.Notifier{
		"email": mail.notifier("email"),
		"sms":   &notify.Failover{Channel: "sms", Providers: []notify.Provider{hold}},
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	e := rules.New(rules.Options{Site: "dc1", Rules: compile(t, onBattery()), Logger: discard(),
		OnChange: func(cs []model.Change) error {
			err := Persist(st, d, cs)
			d.Wake()
			return err
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range n {
		target := fmt.Sprintf("ups%d", i)
		e.Ingest(model.Batch{Target: target, Samples: []model.Sample{{Name: "ups_on_battery", Value: 1, Time: time.Now(),
			Labels: model.L("target", target, "class", "ups")}}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(mail.got()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hold.mu.Lock()
	sends := hold.sends
	hold.mu.Unlock()
	if got := len(mail.got()); got != n {
		t.Fatalf("with %d SMS being followed, %d of %d e-mails went out", sends, got, n)
	}
	if sends != n {
		t.Errorf("%d SMS taken while followed, want all %d", sends, n)
	}
	// Each taken SMS is recorded as such while it is followed: a node
	// taking over would ask Twilio instead of sending it again.
	taken := 0
	_ = st.View(func(tx store.Tx) error {
		return tx.ForEach(store.Outbox, func(k string, v []byte) error {
			x, err := decodeDelivery(v)
			if err == nil && x.Channel == "sms" && x.State == DeliverySending && x.Accepted == "hold" && x.AcceptedRef == "SM-"+x.Key {
				taken++
			}
			return nil
		})
	})
	if taken != n {
		t.Errorf("%d SMS recorded as taken by their provider while followed, want %d", taken, n)
	}
	close(hold.release)
	for time.Now().Before(deadline) {
		ledger, err := d.Deliveries("")
		if err != nil {
			t.Fatal(err)
		}
		delivered := 0
		for _, x := range ledger {
			if x.State == DeliveryDelivered && x.Accepted == "" {
				delivered++
			}
		}
		if delivered == 2*n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not every e-mail and SMS was recorded delivered once the SMS were confirmed")
}

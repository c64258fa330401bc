package alerting

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/alerting/notify"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
)

// notifierFunc adapts a function to notify.Notifier.
type notifierFunc func(ctx context.Context, m notify.Message) (string, error)

func (f notifierFunc) Notify(ctx context.Context, m notify.Message) (string, error) { return f(ctx, m) }

func testDispatcher(t *testing.T, n notify.Notifier) (*Dispatcher, store.Store) {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{
		Receivers: []config.Receiver{{Name: "noc", Email: []string{"a@x.example", "b@x.example"}}, {Name: "fac", Email: []string{"f@x.example"}}},
		Routes: []config.Route{
			{Match: map[string]string{"class": "environment"}, Receivers: []string{"fac"}, Continue: true},
			{Match: map[string]string{"severity": "critical"}, Receivers: []string{"noc"}},
			{Receivers: []string{"fac"}},
		},
	}
	return NewDispatcher(st, cfg, map[string]notify.Notifier{"email": n}, discard()), st
}

func alarm(sev string, labels map[string]string) Alarm {
	return Alarm{ID: "abc123", Rule: "R", Severity: sev, Labels: labels, Seq: 1, State: StateFiring, Site: "dc1"}
}

func TestRoutes(t *testing.T) {
	d, _ := testDispatcher(t, nil)
	cases := []struct {
		sev    string
		labels map[string]string
		want   []string
	}{
		{"critical", map[string]string{"class": "host"}, []string{"a@x.example", "b@x.example"}},
		{"warning", map[string]string{"class": "host"}, []string{"f@x.example"}},
		{"critical", map[string]string{"class": "environment"}, []string{"f@x.example", "a@x.example", "b@x.example"}},
	}
	for _, c := range cases {
		var got []string
		for _, r := range d.recipients(alarm(c.sev, c.labels)) {
			got = append(got, r.address)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s %v: %v, want %v", c.sev, c.labels, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s %v: %v, want %v", c.sev, c.labels, got, c.want)
			}
		}
	}
}

func enqueue(t *testing.T, d *Dispatcher, st store.Store, a Alarm) {
	t.Helper()
	if err := st.Update(func(tx store.Tx) error { return d.Enqueue(tx, a, EventFiring) }); err != nil {
		t.Fatal(err)
	}
}

// Temporary failures are retried until a send succeeds; the same event
// enqueued twice is one notification per recipient.
func TestDispatcherRetriesAndIsIdempotent(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	n := notifierFunc(func(_ context.Context, m notify.Message) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[m.Recipient]++
		if calls[m.Recipient] < 3 {
			return "", notify.Temporary(errors.New("relay busy"))
		}
		return "relay1", nil
	})
	d, st := testDispatcher(t, n)
	a := alarm("critical", map[string]string{"class": "host", "target": "h"})
	enqueue(t, d, st, a)
	enqueue(t, d, st, a) // a retried evaluation must not double the mail
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _ := d.Deliveries("abc123")
		done := 0
		for _, x := range ds {
			if x.State == DeliveryDelivered {
				done++
			}
		}
		if len(ds) != 2 {
			t.Fatalf("%d deliveries, want 2 (one per recipient)", len(ds))
		}
		if done == 2 {
			for _, x := range ds {
				if x.Attempts != 3 || x.Provider != "relay1" {
					t.Errorf("delivery %+v", x)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["a@x.example"] != 3 || calls["b@x.example"] != 3 {
		t.Errorf("calls %v", calls)
	}
}

func TestDispatcherPermanentFailure(t *testing.T) {
	n := notifierFunc(func(context.Context, notify.Message) (string, error) {
		return "", notify.Permanent(errors.New("550 no such user"))
	})
	d, st := testDispatcher(t, n)
	enqueue(t, d, st, alarm("warning", map[string]string{"class": "host"}))
	for _, x := range d.due() {
		d.send(context.Background(), x)
	}
	ds, _ := d.Deliveries("abc123")
	if len(ds) != 1 || ds[0].State != DeliveryFailed || ds[0].LastError == "" {
		t.Fatalf("%+v", ds)
	}
	if len(d.due()) != 0 {
		t.Error("a permanently failed delivery is retried")
	}
}

// A send in flight when the process died (state "sending") is taken up
// again once its lease runs out: at most that one message is repeated.
func TestDispatcherReclaimsExpiredLease(t *testing.T) {
	d, st := testDispatcher(t, nil)
	enqueue(t, d, st, alarm("warning", map[string]string{"class": "host"}))
	claimed := d.due()
	if len(claimed) != 1 {
		t.Fatalf("claimed %d", len(claimed))
	}
	// "Crash": forget the in-memory state, as a new process would.
	d2 := NewDispatcher(st, &config.Config{}, nil, discard())
	if n := len(d2.due()); n != 0 {
		t.Fatalf("reclaimed %d before the lease ran out", n)
	}
	d2.now = func() time.Time { return time.Now().Add(sendLease + time.Second) }
	again := d2.due()
	if len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("reclaimed %+v", again)
	}
}

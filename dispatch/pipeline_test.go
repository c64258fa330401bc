package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/store"
	"github.com/vedetta-dc/vedetta/internal/testclock"
	"github.com/vedetta-dc/vedetta/notify"
)

// pipe is the engine, the dispatcher and a real store wired as the daemon
// wires them, on a fake clock, with a disk that can fill up.
type pipe struct {
	t       *testing.T
	clock   *testclock.Clock
	fs      *faultStore
	e       *rules.Engine
	d       *Dispatcher
	sink    *sink
	dir     string
	cfg     *config.Config
	ruleset []*rules.Rule
}

func newPipe(t *testing.T, cfg *config.Config, rs ...config.Rule) *pipe {
	p := &pipe{t: t, clock: testclock.New(time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)), sink: &sink{}, dir: t.TempDir(), cfg: cfg}
	p.ruleset = compile(t, rs...)
	p.open()
	t.Cleanup(func() { p.fs.inner.Close() })
	return p
}

func (p *pipe) open() {
	st, err := store.OpenBolt(p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	p.fs = &faultStore{inner: st}
	p.d, err = NewDispatcher(p.fs, p.cfg, map[string]notify.Notifier{"email": p.sink.notifier("email"), "sms": p.sink.notifier("sms")}, discard())
	if err != nil {
		p.t.Fatal(err)
	}
	p.d.now = p.clock.Now
	p.e = rules.New(rules.Options{Site: "dc1", Rules: p.ruleset, Intervals: map[string]time.Duration{"ups": 10 * time.Second},
		Now: p.clock.Now, Logger: discard(), OnChange: func(cs []model.Change) error { return Persist(p.fs, p.d, cs) }})
	saved, _, err := LoadAlarms(p.fs)
	if err != nil {
		p.t.Fatal(err)
	}
	p.e.Restore(saved)
}

// restart abandons the process (kill -9) and starts a new one on the same
// state file.
func (p *pipe) restart() {
	p.fs.inner.Close()
	p.open()
}

func (p *pipe) feed(name string, v float64, labels ...string) {
	p.e.Ingest(model.Batch{Target: "ups", Samples: []model.Sample{{
		Name: name, Value: v, Time: p.clock.Now(), Labels: model.L(append([]string{"target", "ups", "class", "ups"}, labels...)...),
	}}})
}

// step advances 10 s and runs the dispatcher once.
func (p *pipe) step() {
	p.clock.Add(10 * time.Second)
	p.e.Tick()
	p.d.housekeeping()
	for _, x := range p.d.due() {
		p.d.send(context.Background(), x, nil)
	}
}

func (p *pipe) count(prefix string) int {
	n := 0
	for _, g := range p.sink.got() {
		if strings.HasPrefix(g, prefix) {
			n++
		}
	}
	return n
}

func onBattery() config.Rule {
	return config.Rule{Name: "UPSOnBattery", Expr: "ups_on_battery == 1", Severity: "critical"}
}

func oneRoute() *config.Config {
	return &config.Config{
		Receivers: []config.Receiver{{Name: "noc", Email: []string{"noc@dc1.example"}}},
		Routes:    []config.Route{{Receivers: []string{"noc"}}},
	}
}

// Issue 9, finding 1: an alarm that fires again is notified again, every
// episode, also after the resolved alarm was forgotten (its id and counters
// start over). It used to be 1 FIRING and 1 RESOLVED for 3 episodes: the
// delivery key of the second episode was the first one's, still in the
// outbox as delivered, and silently skipped.
func TestEveryEpisodeIsNotified(t *testing.T) {
	p := newPipe(t, oneRoute(), onBattery())
	for ep := 0; ep < 3; ep++ {
		p.feed("ups_on_battery", 1)
		p.step()
		p.feed("ups_on_battery", 0)
		p.step()
		if ep == 1 {
			// Past rules.ResolvedKeep: the resolved alarm is forgotten, the next
			// firing is a new alarm with the same id.
			for i := 0; i < int(rules.ResolvedKeep/(10*time.Second))+2; i++ {
				p.feed("ups_on_battery", 0)
				p.step()
			}
		}
	}
	if f, r := p.count("email:firing>"), p.count("email:resolved>"); f != 3 || r != 3 {
		t.Fatalf("3 episodes: %d FIRING and %d RESOLVED e-mails, want 3 and 3: %v", f, r, p.sink.got())
	}
	if n := p.d.DuplicateKeys(); n != 0 {
		t.Errorf("%d delivery keys built twice", n)
	}
}

// Issue 9, finding 2: resolved notices survive a full disk. The notice used
// to be deleted from memory inside the transaction that then failed; the
// retry found no notice and concluded that nobody had been told.
func TestResolvedSurvivesAFullDisk(t *testing.T) {
	p := newPipe(t, oneRoute(), onBattery())
	const n = 100
	for i := 0; i < n; i++ {
		p.feed("ups_on_battery", 1, "ups", fmt.Sprint("m", i))
	}
	p.step()
	if got := p.count("email:firing>"); got != n {
		t.Fatalf("%d FIRING, want %d", got, n)
	}
	p.fs.full = true
	for i := 0; i < n; i++ {
		p.feed("ups_on_battery", 0, "ups", fmt.Sprint("m", i))
	}
	p.step()
	if got := p.count("email:resolved>"); got != 0 {
		t.Fatalf("%d RESOLVED sent while nothing could be written", got)
	}
	p.fs.full = false
	p.step() // the engine's queued changes go in with the next tick
	p.step()
	if got := p.count("email:resolved>"); got != n {
		t.Fatalf("after space came back: %d of %d RESOLVED e-mails", got, n)
	}
}

// A failed write leaves the dispatcher's memory as the store has it: an
// ack refused by a full disk is no ack.
func TestFailedWriteChangesNothingInMemory(t *testing.T) {
	p := newPipe(t, oneRoute(), onBattery())
	p.feed("ups_on_battery", 1)
	p.step()
	a := p.e.Alarms()[0]
	p.fs.full = true
	if _, err := p.d.Ack(a.ID, "anna", "", time.Hour); !errors.Is(err, errDiskFull) {
		t.Fatalf("ack on a full disk: %v", err)
	}
	if n := p.d.Notice(a.ID); n == nil || n.Ack != nil {
		t.Fatalf("after a refused ack the notice is %+v", n)
	}
}

// Issue 9, finding 4: a restart takes back at once the sends a dead
// process had in flight, and per alarm a RESOLVED never goes out before
// its FIRING. It used to wait out the 3-minute lease, while the RESOLVED,
// pending, went first.
func TestRestartResendsInFlightInOrder(t *testing.T) {
	p := newPipe(t, oneRoute(), onBattery())
	p.feed("ups_on_battery", 1)
	p.e.Tick()
	p.d.housekeeping()
	if n := len(p.d.due()); n != 1 { // claimed: the FIRING is in flight...
		t.Fatalf("claimed %d", n)
	}
	p.feed("ups_on_battery", 0) // ...when the RESOLVED is queued
	p.restart()                 // and the process dies
	p.d.housekeeping()
	claimed := p.d.due()
	if len(claimed) != 1 || claimed[0].Event != model.EventFiring {
		t.Fatalf("after the restart, claimed %+v; want the FIRING alone, at once", claimed)
	}
	p.d.send(context.Background(), claimed[0], nil)
	p.step()
	if got := strings.Join(p.sink.got(), " "); got != "email:firing>noc@dc1.example email:resolved>noc@dc1.example" {
		t.Fatalf("sent %s", got)
	}
}

// Issue 9, finding 7 (outbox part): a settled delivery keeps no body, and
// the ledger keeps at most maxLedger entries.
func TestLedgerIsTrimmed(t *testing.T) {
	p := newPipe(t, oneRoute(), onBattery())
	p.feed("ups_on_battery", 1)
	p.step()
	var body int
	_ = p.fs.View(func(tx store.Tx) error {
		return tx.ForEach(store.Outbox, func(_ string, v []byte) error {
			x, _ := decodeDelivery(v)
			body += len(x.Body)
			return nil
		})
	})
	if body != 0 {
		t.Errorf("delivered entries keep %d bytes of body", body)
	}
	// Many settled entries: prune keeps the newest maxLedger.
	err := p.fs.Update(func(tx store.Tx) error {
		for i := 0; i < maxLedger+10; i++ {
			x := Delivery{Key: fmt.Sprintf("k%06d", i), State: DeliveryDelivered, Done: p.clock.Now().Add(time.Duration(i) * time.Millisecond)}
			if err := p.d.ob.save(tx, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.clock.Add(2 * time.Minute)
	p.d.prune(p.clock.Now())
	ds, _ := p.d.Deliveries("")
	if len(ds) != maxLedger {
		t.Fatalf("ledger has %d entries, want %d", len(ds), maxLedger)
	}
	for _, x := range ds {
		if x.Key == "k000000" {
			t.Fatal("the oldest entry was kept")
		}
	}
}

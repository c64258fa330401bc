package snmp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// gathered is the value of one series of a registry, and whether it is there.
func gathered(t *testing.T, g prometheus.Gatherer, name, label, value string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return metricValue(m), true
				}
			}
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// The rejected-traps counter lives on the registry the receiver is given
// (the one the daemon serves), is there from the start, survives a new
// receiver on the same registry (a reload), and is never on the default
// registry.
func TestTrapsRejectedCountedOnGivenRegistry(t *testing.T) {
	snmptrap := testpeer.Need(t, "snmptrap")
	reg := prometheus.NewRegistry()
	r, _ := startReceiverOn(t, reg)
	const name = "vedetta_snmp_traps_rejected_total"
	if v, ok := gathered(t, reg, name, "reason", "community"); !ok || v != 0 {
		t.Fatalf("%s{reason=community} = %v (present %v) before any trap, want 0", name, v, ok)
	}
	send := func(addr string) {
		t.Helper()
		out, err := exec.Command(snmptrap, "-v2c", "-c", "not-public", "-On", addr, "", "1.3.6.1.2.1.33.2.0.1").CombinedOutput()
		if err != nil {
			t.Fatalf("snmptrap: %v\n%s", err, out)
		}
	}
	send(r.Addr())
	testpeer.WaitFor(t, 2*time.Second, "the rejection", func() bool { return r.Rejected("community") == 1 })
	if v, _ := gathered(t, reg, name, "reason", "community"); v != 1 {
		t.Errorf("%s{reason=community} = %v on the given registry, want 1", name, v)
	}
	if _, ok := gathered(t, prometheus.DefaultGatherer, name, "reason", "community"); ok {
		t.Errorf("%s is on the default registry", name)
	}

	// A reload makes a new receiver on the same registry: the counter goes on.
	r2, _ := startReceiverOn(t, reg)
	send(r2.Addr())
	testpeer.WaitFor(t, 2*time.Second, "the second rejection", func() bool { return r2.Rejected("community") == 1 })
	if v, _ := gathered(t, reg, name, "reason", "community"); v != 2 {
		t.Errorf("%s{reason=community} = %v after a second receiver, want 2", name, v)
	}
}

// More distinct trap OIDs than MaxTrapSeries, sent with net-snmp's
// snmptrap, make at most MaxTrapSeries series plus trap="other" (which
// counts the rest); a known trap of a configured target still gets its own
// series after the cap.
func TestTrapOIDCardinalityIsCapped(t *testing.T) {
	snmptrap := testpeer.Need(t, "snmptrap")
	tests := []struct {
		name    string
		targets map[string]string
		target  string
	}{
		{"configured target", map[string]string{"127.0.0.1": "ups-a"}, "ups-a"},
		{"unknown sender", nil, UnknownSender},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Traps{Listen: "127.0.0.1:0", Communities: []config.Secret{"public"}}
			sink := &trapSink{}
			r, err := NewTrapReceiver(cfg, tc.targets, sink.ingest, sink.trigger, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); r.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })

			const extra = 30
			total := MaxTrapSeries + extra
			work := make(chan int)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures []string
			for range 4 {
				// net-snmp's tools rewrite their persistent file at exit: one each
				env := append(os.Environ(), "SNMP_PERSISTENT_DIR="+t.TempDir())
				wg.Go(func() {
					for i := range work {
						oid := fmt.Sprintf("1.3.6.1.4.1.99999.0.%d", i)
						cmd := exec.Command(snmptrap, "-v2c", "-c", "public", "-On", r.Addr(), "", oid)
						cmd.Env = env
						if out, err := cmd.CombinedOutput(); err != nil {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("%v: %s", err, out))
							mu.Unlock()
						}
					}
				})
			}
			for i := range total {
				work <- i
			}
			close(work)
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("snmptrap failed: %v", failures[0])
			}
			testpeer.WaitFor(t, 10*time.Second, "every trap", func() bool { return sink.count() == total })
			if out, err := exec.Command(snmptrap, "-v2c", "-c", "public", "-On", r.Addr(), "", "1.3.6.1.2.1.33.2.0.1").CombinedOutput(); err != nil {
				t.Fatalf("snmptrap: %v\n%s", err, out)
			}
			testpeer.WaitFor(t, 2*time.Second, "the on-battery trap", func() bool { return sink.count() == total+1 })

			last := map[string]model.Sample{} // label set -> latest sample
			sink.mu.Lock()
			for _, b := range sink.batches {
				if b.Target != tc.target {
					t.Errorf("batch for target %q, want %q", b.Target, tc.target)
				}
				for _, s := range b.Samples {
					last[s.Labels.String()] = s
				}
			}
			onBattery := sink.batches[len(sink.batches)-1].Samples[0]
			sink.mu.Unlock()
			other := 0.0
			for _, s := range last {
				if s.Labels.Get("trap_oid") == "other" {
					other = s.Value
				}
			}
			wantSeries, wantOther, wantTrap := MaxTrapSeries+2, float64(extra), "upsTrapOnBattery"
			if tc.target == UnknownSender {
				// every series of an unknown sender is budgeted, known traps too
				wantSeries, wantOther, wantTrap = MaxTrapSeries+1, extra+1, "other"
			}
			if len(last) != wantSeries {
				t.Errorf("%d distinct series, want %d", len(last), wantSeries)
			}
			if other != wantOther {
				t.Errorf(`trap_oid="other" counted %v traps, want %v`, other, wantOther)
			}
			if got := onBattery.Labels.Get("trap"); got != wantTrap {
				t.Errorf("the on-battery trap after the cap is labelled trap=%q, want %q", got, wantTrap)
			}
		})
	}
}

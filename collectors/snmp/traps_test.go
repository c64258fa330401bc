package snmp

import (
	"context"
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

type trapSink struct {
	mu        sync.Mutex
	batches   []model.Batch
	triggered []string
}

func (s *trapSink) ingest(b model.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
}

func (s *trapSink) trigger(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggered = append(s.triggered, t)
	return true
}

func (s *trapSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

func startReceiver(t *testing.T) (*TrapReceiver, *trapSink) {
	t.Helper()
	return startReceiverOn(t, prometheus.NewRegistry())
}

// startReceiverOn starts a receiver whose metrics are registered on reg.
func startReceiverOn(t *testing.T, reg prometheus.Registerer) (*TrapReceiver, *trapSink) {
	t.Helper()
	cfg := &config.Traps{Listen: "127.0.0.1:0", Communities: []config.Secret{"public"},
		Users: []config.TrapUser{{User: "rigtrap", Auth: &config.TrapSecurity{Protocol: "SHA", Passphrase: "authpass123"},
			Priv: &config.TrapSecurity{Protocol: "AES", Passphrase: "privpass123"}}}}
	sink := &trapSink{}
	r, err := NewTrapReceiver(cfg, map[string]string{"127.0.0.1": "ups-a"}, sink.ingest, sink.trigger, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, sink
}

func TestTrapsFromNetSNMP(t *testing.T) {
	testpeer.Need(t, "snmptrap")
	testpeer.Need(t, "snmpinform")
	r, sink := startReceiver(t)
	addr := r.Addr()
	v3 := []string{"-v3", "-l", "authPriv", "-u", "rigtrap", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123"}
	onBattery := []string{"", "1.3.6.1.2.1.33.2.0.1", "1.3.6.1.2.1.33.1.2.1.0", "i", "3"}
	tests := []struct {
		name     string
		cmd      string
		args     []string
		wantOK   bool // the command must succeed (an inform: acknowledged)
		wantTrap string
		rejected string
	}{
		{"v2c trap", "snmptrap", append([]string{"-v2c", "-c", "public"}, onBattery...), true, "upsTrapOnBattery", ""},
		{"v2c inform is acknowledged", "snmpinform", append([]string{"-v2c", "-c", "public", "-t", "1", "-r", "0"}, onBattery...), true, "upsTrapOnBattery", ""},
		{"v3 authPriv inform is acknowledged", "snmpinform", append(append(append([]string{}, v3...), "-t", "1", "-r", "0"), "", "1.3.6.1.2.1.33.2.0.3", "1.3.6.1.2.1.33.1.6.1.0", "i", "1"), true, "upsTrapAlarmEntryAdded", ""},
		{"v3 authPriv trap", "snmptrap", append(append([]string{"-e", "0x8000000001020304"}, v3...), "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.3", "i", "3"), true, "linkDown", ""},
		{"v1 trap", "snmptrap", []string{"-v1", "-c", "public", addr, "1.3.6.1.4.1.318", "127.0.0.1", "6", "5", "", "1.3.6.1.2.1.1.5.0", "s", "ups"}, true, "apcUpsOnBattery", ""},
		{"unknown community is dropped", "snmpinform", append([]string{"-v2c", "-c", "wrong", "-t", "0.3", "-r", "0"}, onBattery...), false, "", "community"},
		{"unknown v3 user is dropped", "snmpinform", []string{"-v3", "-l", "authPriv", "-u", "intruder", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-t", "0.3", "-r", "0", "", "1.3.6.1.2.1.33.2.0.1"}, false, "", "user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.cmd == "snmpinform" || (tc.cmd == "snmptrap" && args[0] != "-v1") {
				// insert the address before the uptime ('') argument
				for i, a := range args {
					if a == "" {
						args = append(append(append([]string{"-On"}, args[:i]...), addr), args[i:]...)
						break
					}
				}
			}
			before := sink.count()
			rejBefore := r.Rejected(tc.rejected)
			promBefore := counterValue(r.rejectedM.WithLabelValues(tc.rejected))
			out, err := exec.Command(tc.cmd, args...).CombinedOutput()
			if (err == nil) != tc.wantOK {
				t.Fatalf("%s %v: err=%v, want ok=%v\n%s", tc.cmd, args, err, tc.wantOK, out)
			}
			if tc.rejected != "" {
				testpeer.WaitFor(t, 2*time.Second, "the rejection to be counted", func() bool { return r.Rejected(tc.rejected) > rejBefore })
				if got := counterValue(r.rejectedM.WithLabelValues(tc.rejected)); got <= promBefore {
					t.Errorf("vedetta_snmp_traps_rejected_total{reason=%q} did not grow", tc.rejected)
				}
				if sink.count() != before {
					t.Errorf("a rejected trap was ingested")
				}
				return
			}
			testpeer.WaitFor(t, 2*time.Second, "the trap to be ingested", func() bool { return sink.count() > before })
			sink.mu.Lock()
			b := sink.batches[len(sink.batches)-1]
			trig := sink.triggered[len(sink.triggered)-1]
			sink.mu.Unlock()
			if b.Target != "ups-a" || trig != "ups-a" {
				t.Errorf("target %q, triggered %q; want ups-a", b.Target, trig)
			}
			if len(b.Samples) != 1 || b.Samples[0].Name != "snmp_trap_received_total" || b.Samples[0].Labels.Get("trap") != tc.wantTrap {
				t.Errorf("samples %+v, want snmp_trap_received_total{trap=%q}", b.Samples, tc.wantTrap)
			}
		})
	}
}

func TestValidateTraps(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Traps
		ok   bool
	}{
		{"ok", config.Traps{Listen: "127.0.0.1:9162", Communities: []config.Secret{"public"}}, true},
		{"no port", config.Traps{Listen: "127.0.0.1"}, false},
		{"bad auth protocol", config.Traps{Listen: ":9162", Users: []config.TrapUser{{User: "u", Auth: &config.TrapSecurity{Protocol: "SHA3", Passphrase: "12345678"}}}}, false},
		{"short engine id", config.Traps{Listen: ":9162", EngineID: "8000"}, false},
	}
	for _, tc := range tests {
		if err := ValidateTraps(&tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

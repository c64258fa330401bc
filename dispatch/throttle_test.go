package dispatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// The throttle's decision, with injected time.
func TestPlanSMS(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	l := smsLimits{Burst: 3, Every: time.Minute}
	n, u, r := smsCand{}, smsCand{Urgent: true}, smsCand{Reclaimed: true}
	storm := make([]smsCand, 100)
	for i := range storm {
		storm[i] = u
	}
	for _, c := range []struct {
		name   string
		bucket smsBucket
		now    time.Time
		ready  []smsCand
		want   string // sends: "0 1+2+3" is SMS 0 alone, then SMS 1 carrying 2 and 3
		tokens float64
	}{
		{"a number never sent to has a full bucket", smsBucket{}, t0, []smsCand{n}, "0", 2},
		{"one each while tokens last, the last carries the rest", smsBucket{3, t0}, t0, []smsCand{n, n, n, n, n}, "0 1 2+3+4", 0},
		{"empty bucket: a warning waits", smsBucket{0, t0}, t0, []smsCand{n, n}, "", 0},
		{"empty bucket: a new critical goes, carrying what waits", smsBucket{0, t0}, t0, []smsCand{n, u, n}, "1+0+2", -1},
		{"two new criticals each go while overdraft lasts", smsBucket{0, t0}, t0, []smsCand{u, u}, "0 1", -2},
		{"overdrawn by burst: even a critical waits", smsBucket{-2.5, t0}, t0, []smsCand{u}, "", -2.5},
		{"a token back after min_interval", smsBucket{0, t0}, t0.Add(time.Minute), []smsCand{n, n}, "0+1", 0},
		{"half a token is not one", smsBucket{0, t0}, t0.Add(30 * time.Second), []smsCand{n}, "", 0.5},
		{"refill stops at burst", smsBucket{-3, t0}, t0.Add(time.Hour), []smsCand{n, n, n, n}, "0 1 2+3", 0},
		{"a reclaimed SMS goes alone and spends nothing", smsBucket{0, t0}, t0, []smsCand{r, n}, "0", 0},
		{"a storm of 100 criticals: 2×burst SMS, the last a digest", smsBucket{3, t0}, t0, storm, "0 1 2 3 4 5+" + seq(6, 99), -3},
		{"an earlier bucket time (clock step back) is not refilled", smsBucket{1, t0}, t0.Add(-time.Minute), []smsCand{n, n}, "0+1", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			sends, b := planSMS(c.bucket, c.ready, c.now, l)
			var got []string
			for _, s := range sends {
				var p []string
				for _, i := range s {
					p = append(p, fmt.Sprint(i))
				}
				got = append(got, strings.Join(p, "+"))
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("sends %q, want %q", g, c.want)
			}
			if b.Tokens < c.tokens-1e-9 || b.Tokens > c.tokens+1e-9 {
				t.Errorf("tokens left %v, want %v", b.Tokens, c.tokens)
			}
		})
	}
}

func seq(from, to int) string {
	var p []string
	for i := from; i <= to; i++ {
		p = append(p, fmt.Sprint(i))
	}
	return strings.Join(p, "+")
}

// A UPS alarm, then 10 s later a switch losing 40 ports (one group) to the
// same number: both reach the phone within 15 s of their alarms, even when
// the number's bucket was already spent on warnings.
func TestSMSThrottleNeverHoldsANewIncident(t *testing.T) {
	for _, spent := range []bool{false, true} {
		t.Run(fmt.Sprintf("bucket spent %v", spent), func(t *testing.T) {
			cfg := baseConfig()
			cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"}, GroupBy: []string{"target"}, GroupWait: 2 * time.Second}}
			x := newDTest(t, cfg)
			before := 0
			if spent {
				for i := range 3 {
					x.event(firing(fmt.Sprintf("w%d", i), "warning", "target", fmt.Sprintf("srv%d", i)), model.EventFiring)
					x.advance(2 * time.Second)
				}
				before = len(x.sink.got())
				if before != 3 {
					t.Fatalf("%d warnings sent, want 3", before)
				}
			}
			start := x.clock.Now()
			x.event(firing("ups", "critical", "target", "ups-b"), model.EventFiring)
			x.run()
			upsAt := waitSMS(t, x, before+1, 15*time.Second)
			x.clock.Add(start.Add(10 * time.Second).Sub(x.clock.Now()))
			switchAlarm := x.clock.Now()
			for i := range 40 {
				x.event(firing(fmt.Sprintf("p%d", i), "critical", "target", "sw1", "ifname", fmt.Sprintf("ge-0/0/%d", i)), model.EventFiring)
			}
			x.run()
			swAt := waitSMS(t, x, before+2, 15*time.Second)
			t.Logf("UPS SMS %v after its alarm, switch SMS %v after its alarm (virtual time)", upsAt.Sub(start), swAt.Sub(switchAlarm))
			subj := x.sink.subjects()
			if !strings.Contains(subj[before], "ups-b") || !strings.Contains(subj[before+1], "40 alarms on sw1") {
				t.Errorf("subjects %q", subj[before:])
			}
			if strings.Contains(subj[before+1], "more, see e-mail") {
				t.Errorf("the switch went as a digest: %q", subj[before+1])
			}
		})
	}
}

// waitSMS advances the clock 250 ms at a time (the run loop's tick) until
// n SMS were sent, at most limit; it returns when.
func waitSMS(t *testing.T, x *dtest, n int, limit time.Duration) time.Time {
	t.Helper()
	end := x.clock.Now().Add(limit)
	for len(x.sink.got()) < n {
		if x.clock.Now().After(end) {
			t.Fatalf("after %v: sent %v, want %d SMS", limit, x.sink.got(), n)
		}
		x.advance(250 * time.Millisecond)
	}
	return x.clock.Now()
}

// 100 alarms in a minute to one number fold into a few SMS; nothing is
// dropped: every delivery ends delivered, alone or in a digest.
func TestSMSStormFoldsIntoDigests(t *testing.T) {
	for _, sev := range []string{"critical", "warning"} {
		t.Run(sev, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Routes = []config.Route{{Receivers: []string{"oncall"}, Channels: []string{"sms"}}}
			x := newDTest(t, cfg)
			for i := range 100 {
				x.event(firing(fmt.Sprintf("a%d", i), sev, "target", fmt.Sprintf("dev%d", i)), model.EventFiring)
				x.advance(600 * time.Millisecond)
			}
			inMinute := len(x.sink.got())
			for range 8 * 4 { // 8 more minutes: every token back
				x.advance(15 * time.Second)
			}
			total := len(x.sink.got())
			t.Logf("%s: %d SMS in the minute of the storm, %d in all, for 100 alarms", sev, inMinute, total)
			// Criticals: burst 3 + overdraft 3, then one a minute; warnings:
			// the 3 tokens and the minute's refill.
			if limit := map[string]int{"critical": 8, "warning": 5}[sev]; total > limit {
				t.Errorf("%d SMS to one number for a storm of 100 alarms; want at most %d", total, limit)
			}
			ds, _ := x.d.Deliveries("")
			sms, carried := 0, 0
			for _, del := range ds {
				if del.Channel != "sms" {
					continue
				}
				sms++
				if del.State != DeliveryDelivered {
					t.Errorf("delivery %s left %s", del.Key, del.State)
				}
				carried += len(del.DigestOf)
			}
			if sms != 100 || carried+total != 100 {
				t.Errorf("%d SMS deliveries, %d sent + %d in digests; want 100 = sent + carried", sms, total, carried)
			}
		})
	}
}

// The buckets come back after a restart from the ledger: a number that
// just got 3 SMS does not get 3 more warnings at once.
func TestSMSBucketsSurviveRestart(t *testing.T) {
	l := smsLimits{Burst: 3, Every: time.Minute}
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	b := l.replaySMS(map[string][]time.Time{"+390001": {t0.Add(2 * time.Second), t0, t0.Add(time.Second)}})["+390001"]
	b = l.refill(b, t0.Add(2*time.Second))
	if b.Tokens > 0.1 {
		t.Errorf("after 3 SMS in 2 s the bucket has %.2f tokens, want ~0", b.Tokens)
	}
}

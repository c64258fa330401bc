package mailqueue

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/alerting"
	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

// TestShippedRules: configs/rules.d/mailqueue.yaml over a spam run of 250
// queued messages (alarm text names the top sender) and over the recorded
// queue (a 2-day-old deferred message: MailQueueStuck).
func TestShippedRules(t *testing.T) {
	rulesFile := filepath.Join(testpeer.RepoRoot(t), "configs", "rules.d", "mailqueue.yaml")
	cfgPath := filepath.Join(t.TempDir(), "vedetta.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("rule_files: [%q]\n", rulesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rules, errs := alerting.CompileRules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	firing := func(samples []collectors.Sample) []string {
		clock := now
		e := alerting.New(alerting.Options{Rules: rules, Now: func() time.Time { return clock },
			Intervals: map[string]time.Duration{"mail": time.Minute}})
		for range 12 { // 11 minutes: past the 10m of MailQueueGrowing
			b := collectors.Batch{Target: "mail"}
			for _, s := range samples {
				s.Labels = s.Labels.With("target", "mail").With("class", "mailqueue")
				s.Time = clock
				b.Samples = append(b.Samples, s)
			}
			e.Ingest(b)
			clock = clock.Add(time.Minute)
		}
		var out []string
		for _, a := range e.Alarms() {
			if a.State == alerting.StateFiring {
				out = append(out, a.Rule+": "+a.Summary)
			}
		}
		sort.Strings(out)
		return out
	}
	var spam []Message
	for i := range 250 {
		m := Message{QueueName: "active", QueueID: fmt.Sprintf("Q%d", i), ArrivalTime: now.Unix() - 30, MessageSize: 2000, Sender: "spam@compromised.example"}
		if i%10 == 0 {
			m.Sender = fmt.Sprintf("user%d@dc1.example", i)
		}
		spam = append(spam, m)
	}
	got := firing(Samples(spam, now, 5))
	if fmt.Sprint(got) != "[MailQueueGrowing: 250 messages in the active queue on mail (top sender spam@compromised.example)]" {
		t.Errorf("spam run: firing %q", got)
	}

	f, err := os.Open("testdata/postqueue-j.spam.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs, err := ParsePostqueue(f)
	if err != nil {
		t.Fatal(err)
	}
	got = firing(Samples(msgs, now, 5))
	if fmt.Sprint(got) != "[MailQueueStuck: oldest queued mail on mail is 48h0m0s old]" {
		t.Errorf("recorded queue: firing %q", got)
	}
}

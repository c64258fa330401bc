package mailqueue

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// TestShippedRules: configs/rules.d/mailqueue.yaml over a spam run of 250
// queued messages (alarm text names the top sender) and over the recorded
// queue (a 2-day-old deferred message: MailQueueStuck).
func TestShippedRules(t *testing.T) {
	rules := rulestest.Shipped(t, "mailqueue.yaml")
	firing := func(samples []model.Sample) []string {
		// 12 rounds, 11 minutes: past the 10m of MailQueueGrowing
		return rulestest.Summaries(rulestest.Replay(rules, "mail", "mailqueue", samples, 12, time.Minute))
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
	if fmt.Sprint(got) != "[MailQueueStuck: oldest queued mail on mail is 2 d old]" {
		t.Errorf("recorded queue: firing %q", got)
	}
}

package mailqueue

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

// mailCases are configs/rules.d/mailqueue.yaml's rules on the recorded
// Postfix queue (postqueue -j) and an empty mail log, read by the
// collector, changed the way a spam run or a stuck queue would.
var mailCases = []rulestest.Case{
	{Rule: "MailQueueGrowing", Fire: rulestest.Set("mail_queue_messages", 480, "queue", "deferred"),
		Want: "480 messages in the deferred queue on mail (top sender spammer@compromised.example)"},
	{Rule: "MailQueueStuck", Fire: rulestest.Set("mail_queue_oldest_seconds", 7*3600+20*60),
		Want: "oldest queued mail on mail is 7 h 20 min old"},
	{Rule: "MailOutboundBurst", Fire: rulestest.Ramp("mail_sent_total", 130), Rounds: 6, HoldToResolve: true,
		Want: "650 mails sent from mail in 10 minutes"},
}

// TestShippedRuleSummaries: every row of mailCases.
func TestShippedRuleSummaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mail.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	samples, err := collect(t, fmt.Sprintf("mailqueue: {postqueue: %q, maillog: %q}",
		fakeCommand(t, "testdata/postqueue-j.postfix-3.7.11.json", 0), filepath.Join(dir, "mail.log")))
	if err != nil {
		t.Fatal(err)
	}
	rs := rulestest.Shipped(t, "mailqueue.yaml")
	for _, c := range mailCases {
		c.Source, c.Class = "testdata/postqueue-j.postfix-3.7.11.json", "mailqueue"
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "mail", samples, c) })
	}
}

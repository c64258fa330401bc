package mailqueue

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/collectortest"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
)

// TestRealPostfix runs a private Postfix instance (its own config, queue
// and log under the test's temp dir, no listener) whose relay is a loopback
// port. Phase 1: nothing listens there, so six messages (five from one
// sender) end up deferred and `postqueue -j` shows them. Phase 2: Postfix's
// smtp-sink starts on that port, the queue is flushed, and the mail log's
// status=sent lines become mail_sent_total.
func TestRealPostfix(t *testing.T) {
	postfix := testpeer.Need(t, "/usr/sbin/postfix")
	sendmail := testpeer.Need(t, "/usr/sbin/sendmail")
	postqueue := testpeer.Need(t, "/usr/sbin/postqueue")
	sink := testpeer.Need(t, "/usr/sbin/smtp-sink")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "a private Postfix instance needs root (its queue belongs to user postfix)")
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		testpeer.Missing(t, "no postfix user: "+err.Error())
	}
	uid, _ := strconv.Atoi(pfUser.Uid)

	root := t.TempDir()
	// Postfix's daemons run as user postfix and must reach the queue.
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	etc, spool, data := filepath.Join(root, "etc"), filepath.Join(root, "spool"), filepath.Join(root, "data")
	for _, d := range []string{etc, spool, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, uid, -1); err != nil {
		t.Fatal(err)
	}
	port := testpeer.FreePort(t)
	maillog := filepath.Join(root, "mail.log")
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = vedetta-test.localdomain
mydestination =
relayhost = [127.0.0.1]:%d
maillog_file = %s
maillog_file_prefixes = %s
alias_maps =
alias_database =
smtputf8_enable = no
smtp_connect_timeout = 2s
`, spool, data, port, maillog, root)
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	// master.cf: the distribution's, without any smtpd listener, no chroot.
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		testpeer.Missing(t, "no /etc/postfix/master.cf: "+err.Error())
	}
	var kept []string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet ") {
			continue
		}
		kept = append(kept, l)
	}
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run("/usr/sbin/postconf", "-c", etc, "-F", "*/*/chroot = n")
	run(postfix, "-c", etc, "check")
	testpeer.Start(t, nil, postfix, "-c", etc, "start-fg")
	t.Cleanup(func() { _ = exec.Command(postfix, "-c", etc, "stop").Run() })

	src := fmt.Sprintf("mailqueue: {postqueue: %s, config_dir: %s, maillog: %s}", postqueue, etc, maillog)
	c, err := New(collectors.Spec{Name: "mail", BaseDir: root}, collectortest.DecodeYAML(src))
	if err != nil {
		t.Fatal(err)
	}
	collect := func() ([]model.Sample, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got []model.Sample
		err := c.Collect(ctx, func(s model.Sample) { got = append(got, s) })
		return got, err
	}
	testpeer.WaitFor(t, 20*time.Second, "postfix ready (mail log written)", func() bool {
		b, _ := os.ReadFile(maillog)
		return strings.Contains(string(b), "daemon started")
	})
	if _, err := collect(); err != nil { // positions the mail log follower
		t.Fatal(err)
	}

	for i, from := range []string{"spam@compromised.example", "spam@compromised.example", "spam@compromised.example",
		"spam@compromised.example", "spam@compromised.example", "alice@dc1.example"} {
		cmd := exec.Command(sendmail, "-C", etc, "-f", from, fmt.Sprintf("victim%d@example.org", i))
		cmd.Stdin = strings.NewReader(fmt.Sprintf("Subject: offer %d\n\nbuy now\n", i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sendmail: %v\n%s", err, out)
		}
	}
	var got []model.Sample
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(maillog)
			t.Logf("mail log:\n%s", b)
		}
	})
	testpeer.WaitFor(t, 30*time.Second, "six deferred messages", func() bool {
		got, err = collect()
		v, _ := collectortest.Value(got, "mail_queue_messages", "queue", "deferred")
		d, _ := collectortest.Value(got, "mail_deferred_total")
		return err == nil && v == 6 && d == 6
	})

	if v, _ := collectortest.Value(got, "mail_queue_top_sender", "sender", "spam@compromised.example"); v != 5 {
		t.Errorf("mail_queue_top_sender{spam@compromised.example} = %v, want 5", v)
	}
	if v, _ := collectortest.Value(got, "mail_queue_oldest_seconds"); v < 0 || v > 120 {
		t.Errorf("mail_queue_oldest_seconds = %v", v)
	}

	// The relay comes back: smtp-sink on the relay port, flush the queue.
	testpeer.Start(t, nil, sink, "-u", "nobody", testpeer.Addr(port), "100")
	testpeer.WaitFor(t, 10*time.Second, "smtp-sink listening", func() bool {
		conn, err := net.DialTimeout("tcp", testpeer.Addr(port), time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	run(postqueue, "-c", etc, "-f")
	testpeer.WaitFor(t, 30*time.Second, "six mails sent", func() bool {
		got, err = collect()
		sent, _ := collectortest.Value(got, "mail_sent_total")
		q, _ := collectortest.Value(got, "mail_queue_messages", "queue", "deferred")
		return err == nil && sent == 6 && q == 0
	})
}

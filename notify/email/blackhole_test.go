package email

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/notify"
)

// clientGone: every connection the relay accepted was closed by the client.
func clientGone(t *testing.T, b *testpeer.Blackhole) {
	t.Helper()
	if b.Accepted.Load() == 0 {
		t.Fatal("the relay never got a connection: the attempt failed before waiting for it")
	}
	testpeer.WaitFor(t, time.Second, "the client to close its connection", func() bool {
		return b.HungUp.Load() == b.Accepted.Load()
	})
}

func relayFor(t *testing.T, port int, tls string, timeout time.Duration) *Relay {
	t.Helper()
	rs, err := Relays(&config.Email{From: "vedetta@dc1.example", Relays: []config.Relay{
		{Host: "127.0.0.1", Port: port, TLS: tls, Timeout: timeout},
	}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// A relay that accepts TCP and never greets (nor answers a TLS hello)
// holds neither a send nor a probe past a cancelled context, nor past the
// relay's timeout; the connection is closed when the attempt returns.
func TestBlackholeRelay(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ops := map[string]func(context.Context, *Relay) error{
		"send":  func(ctx context.Context, r *Relay) error { return r.Send(ctx, msg("bh")) },
		"probe": func(ctx context.Context, r *Relay) error { return r.Probe(ctx) },
	}
	t.Run("group", func(t *testing.T) {
		for _, mode := range []string{"none", "starttls", "tls"} {
			for name, op := range ops {
				t.Run(mode+"/"+name+"/cancel", func(t *testing.T) {
					t.Parallel()
					b := testpeer.StartBlackhole(t)
					r := relayFor(t, b.Port, mode, 30*time.Second)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					time.AfterFunc(200*time.Millisecond, cancel)
					start := time.Now()
					err := op(ctx, r)
					took := time.Since(start)
					t.Logf("returned after %v: %v", took, err)
					if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.Canceled) {
						t.Fatalf("err %v, want a temporary error naming the cancel", err)
					}
					if took > 2*time.Second {
						t.Fatalf("returned %v after start; the context was cancelled at 200ms", took)
					}
					clientGone(t, b)
				})
				t.Run(mode+"/"+name+"/timeout", func(t *testing.T) {
					t.Parallel()
					b := testpeer.StartBlackhole(t)
					r := relayFor(t, b.Port, mode, time.Second)
					start := time.Now()
					err := op(context.Background(), r)
					took := time.Since(start)
					t.Logf("returned after %v: %v", took, err)
					if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("err %v, want a temporary error naming the relay timeout", err)
					}
					if took < 900*time.Millisecond || took > 1500*time.Millisecond {
						t.Fatalf("returned after %v, want about the relay timeout (1s)", took)
					}
					clientGone(t, b)
				})
			}
		}
	})
}

// A relay that greets and takes the envelope, then never answers the
// message's final dot: the relay's timeout and the context bound DATA too.
func TestRelayStallsAfterData(t *testing.T) {
	stall := func(c net.Conn) {
		rd := bufio.NewReader(c)
		say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
		say("220 stall.example ESMTP")
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say("250 stall.example")
			case cmd == "DATA":
				say("354 go ahead")
				for {
					l, err := rd.ReadString('\n')
					if err != nil || l == ".\r\n" {
						return // and never answer
					}
				}
			default:
				say("250 ok")
			}
		}
	}
	for _, c := range []struct {
		name    string
		timeout time.Duration
		cancel  time.Duration // 0: none
		want    error
	}{
		{"timeout", time.Second, 0, context.DeadlineExceeded},
		{"cancel", 30 * time.Second, 200 * time.Millisecond, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := testpeer.StartListener(t, stall)
			r := relayFor(t, l.Port, "none", c.timeout)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			limit := c.timeout + 500*time.Millisecond
			if c.cancel > 0 {
				time.AfterFunc(c.cancel, cancel)
				limit = 2 * time.Second
			}
			start := time.Now()
			err := r.Send(ctx, msg("stall"))
			took := time.Since(start)
			t.Logf("returned after %v: %v", took, err)
			if err == nil || notify.IsPermanent(err) || !errors.Is(err, c.want) {
				t.Fatalf("err %v, want a temporary %v", err, c.want)
			}
			if took > limit {
				t.Fatalf("returned after %v, want < %v", took, limit)
			}
			clientGone(t, l)
		})
	}
}

// Failover from a blackhole relay (timeout 1s) to a real Mailpit: the
// message arrives through Mailpit within the first relay's timeout plus
// little.
func TestFailoverPastBlackholeRelay(t *testing.T) {
	b := testpeer.StartBlackhole(t)
	mp := testpeer.StartMailpit(t)
	n := newNotifier(t,
		config.Relay{Host: "127.0.0.1", Port: b.Port, TLS: "none", Timeout: time.Second},
		config.Relay{Host: "127.0.0.1", Port: mp.SMTPPort, TLS: "none", Timeout: time.Second},
	)
	var attempts []string
	n.OnAttempt = func(_, relay string, err error) { attempts = append(attempts, relay+" ok="+boolStr(err == nil)) }
	start := time.Now()
	via, err := n.Notify(context.Background(), msg("fo1"))
	took := time.Since(start)
	t.Logf("delivered via %s after %v; attempts %v", via, took, attempts)
	if err != nil {
		t.Fatal(err)
	}
	if via != "127.0.0.1:"+itoa(mp.SMTPPort) || len(attempts) != 2 || attempts[0] != "127.0.0.1:"+itoa(b.Port)+" ok=false" {
		t.Fatalf("via %s, attempts %v", via, attempts)
	}
	if took > 3*time.Second {
		t.Fatalf("failover took %v, want < 3s", took)
	}
	if got := mp.Matching(t, "FIRING fo1"); len(got) != 1 {
		t.Fatalf("Mailpit got %d messages", len(got))
	}
	clientGone(t, b)
}

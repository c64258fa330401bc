package authlog

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	// Each case is a sequence of lines fed to one parser; want lists the
	// events they give, "service source user count".
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"failed password", []string{
			"Mar 10 12:00:01 bastion sshd[4242]: Failed password for root from 203.0.113.7 port 52311 ssh2",
		}, []string{"sshd 203.0.113.7 root 1"}},
		{"invalid user, then its password: one attempt each", []string{
			"Mar 10 12:00:03 bastion sshd[4243]: Invalid user admin from 198.51.100.23 port 40022",
			"Mar 10 12:00:05 bastion sshd[4243]: Failed password for invalid user admin from 198.51.100.23 port 40022 ssh2",
			"Mar 10 12:00:05 bastion sshd[4243]: Failed password for invalid user admin from 198.51.100.23 port 40022 ssh2",
			"Mar 10 12:00:06 bastion sshd[4243]: Connection closed by invalid user admin 198.51.100.23 port 40022 [preauth]",
		}, []string{"sshd 198.51.100.23 admin 1", "sshd 198.51.100.23 admin 1"}},
		{"preauth disconnect without any attempt logged", []string{
			"Mar 10 12:00:07 bastion sshd[4244]: Connection closed by authenticating user root 192.0.2.9 port 1234 [preauth]",
		}, []string{"sshd 192.0.2.9 root 1"}},
		{"preauth disconnect after a failure is not another one", []string{
			"Mar 10 12:00:07 bastion sshd[4250]: Failed password for root from 192.0.2.9 port 1234 ssh2",
			"Mar 10 12:00:08 bastion sshd[4250]: Disconnected from authenticating user root 192.0.2.9 port 1234 [preauth]",
		}, []string{"sshd 192.0.2.9 root 1"}},
		{"sshd's PAM lines are the same attempt", []string{
			"Mar 10 12:00:08 bastion sshd[4245]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root",
			"Mar 10 12:00:08 bastion sshd[4245]: error: PAM: Authentication failure for root from 203.0.113.7",
			"Mar 10 12:00:14 bastion sshd[4245]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root",
			"Mar 10 12:00:15 bastion sshd[4245]: error: maximum authentication attempts exceeded for root from 203.0.113.7 port 52311 ssh2 [preauth]",
		}, nil},
		{"sudo", []string{
			"Mar 10 12:00:09 bastion sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob",
			"Mar 10 12:00:09 bastion sudo:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
			"Mar 10 12:00:09 bastion sudo:      eve : 1 incorrect password attempt ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
		}, []string{"sudo local:bob bob 3", "sudo local:eve eve 1"}},
		{"other PAM services", []string{
			"Mar 10 12:00:10 bastion login[777]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=carol",
			"Mar 10 12:00:10 mail dovecot[12]: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=dave rhost=192.0.2.44  user=dave",
		}, []string{"login local:LOGIN carol 1", "dovecot 192.0.2.44 dave 1"}},
		{"RFC 3339 timestamps and IPv6", []string{
			"2026-03-10T12:00:11.123456+01:00 bastion sshd[4246]: Failed publickey for git from 2001:db8::5 port 5555 ssh2: RSA SHA256:abc",
		}, []string{"sshd 2001:db8::5 git 1"}},
		{"another locale's month names", []string{
			"Mär 10 12:00:12 bastion sshd[4247]: Failed password for root from 203.0.113.8 port 1 ssh2",
			"déc.  9 12:00:12 bastion sshd[4248]: Failed password for root from 203.0.113.9 port 1 ssh2",
		}, []string{"sshd 203.0.113.8 root 1", "sshd 203.0.113.9 root 1"}},
		{"Debian 13 sshd-session", []string{
			"2026-03-10T12:00:11.123456+00:00 trixie sshd-session[99]: Failed password for root from 203.0.113.10 port 7 ssh2",
		}, []string{"sshd 203.0.113.10 root 1"}},
		{"successes and noise", []string{
			"Mar 10 12:00:13 bastion sshd[4248]: Accepted password for bob from 192.0.2.1 port 22 ssh2",
			"Mar 10 12:00:13 bastion sshd[4248]: pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)",
			"Mar 10 12:00:15 bastion sshd[4249]: Disconnecting authenticating user root 203.0.113.7 port 52311: Too many authentication failures [preauth]",
			"Mar 10 12:00:16 bastion CRON[1]: pam_unix(cron:session): session closed for user root",
			"Mar 10 12:00:17 bastion sshd[4251]: Connection closed by 192.0.2.77 port 4444 [preauth]",
			"",
			"garbage without a tag",
		}, nil},
		{"user names with spaces", []string{
			"Mar 10 12:00:18 bastion sshd[4252]: Invalid user a b from 192.0.2.5 port 9",
		}, []string{"sshd 192.0.2.5 a b 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParser()
			var got []string
			for _, l := range tc.lines {
				if ev, ok := p.Line(l); ok {
					got = append(got, fmt.Sprintf("%s %s %s %d", ev.Service, ev.Source, ev.User, ev.Count))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("events\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPendingBounded(t *testing.T) {
	p := NewParser()
	for i := range 3 * maxPending {
		p.Line(fmt.Sprintf("Mar 10 12:00:03 h sshd[%d]: Invalid user x from 192.0.2.1 port 1", i))
	}
	if len(p.counted) > maxPending || len(p.order) > maxPending || len(p.invalidCredit) > maxPending {
		t.Errorf("state grew to %d/%d/%d", len(p.counted), len(p.order), len(p.invalidCredit))
	}
}

// FuzzParseLine: never a panic, events are plausible and label values
// bounded.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"Mar 10 12:00:01 bastion sshd[4242]: Failed password for root from 203.0.113.7 port 52311 ssh2",
		"Mar 10 12:00:03 bastion sshd[4243]: Invalid user admin from 198.51.100.23 port 40022",
		"Mar 10 12:00:06 bastion sshd[4243]: Connection closed by invalid user admin 198.51.100.23 port 40022 [preauth]",
		"Mar 10 12:00:09 bastion sudo:      bob : 3 incorrect password attempts ; TTY=pts/0",
		"Mar 10 12:00:10 bastion login[777]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 rhost=  user=carol",
	} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		p := NewParser()
		for _, l := range []string{a, b, a} {
			ev, ok := p.Line(l)
			if !ok {
				continue
			}
			if ev.Service == "" || ev.Count < 1 || ev.Count > 1000 {
				t.Fatalf("implausible event %+v from %q", ev, l)
			}
			if len(ev.Source) > 64+len("local:") || len(ev.User) > 64 || !utf8.ValidString(ev.Source) && utf8.ValidString(l) {
				t.Fatalf("unbounded label in %+v", ev)
			}
		}
	})
}

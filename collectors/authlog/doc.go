// Package authlog is the `kind: authlog` collector: failed logins (ssh
// brute force, sudo, PAM services) from /var/log/auth.log, /var/log/secure
// or the journal.
//
// # Configuration
//
//	targets:
//	  - name: ssh
//	    kind: authlog
//	    interval: 30s
//	    authlog:
//	      path: /var/log/auth.log   # omitted: the journal (facilities auth, authpriv) via journalctl
//	      journalctl: journalctl    # program for the journal
//	      top_window: 10m           # how far back top source addresses are counted (1m..24h)
//	      top_sources: 5            # how many are exported (1..20)
//	      from_start: false         # true: also count what the log already holds at start
//
// A file is followed like `tail -F`: only what is written after the first
// round counts (unless from_start); on rename-and-create rotation the old
// file is read to its end before the new one is opened from its start; a
// file that shrank (copytruncate) is read again from its start. A
// copytruncate followed by more writes than were there before, within one
// interval, cannot be told from growth (the same limit as tail -F). One
// round reads at most 32 MiB; the rest is read in the next rounds.
//
// The journal is read by running `journalctl -o json --after-cursor=C
// SYSLOG_FACILITY=4 SYSLOG_FACILITY=10` once per round (no long-running
// `journalctl -f`: nothing outlives a round and the context bounds it). The
// first round only learns the cursor of the newest entry.
//
// # What counts as a failure
//
// The parser does not depend on the timestamp (any locale, RFC 3339) and
// counts each failed attempt once:
//
//	sshd  "Failed <method> for [invalid user] U from IP port N"          +1 each
//	sshd  "Invalid user U from IP"                                        +1, and the next
//	      "Failed ... for invalid user" of the same sshd process is that same attempt
//	sshd  "Connection closed by|Disconnected from authenticating|invalid user U IP port N [preauth]"
//	                                              +1 only when that connection had no failure counted
//	sudo  "U : N incorrect password attempts"                             +N
//	PAM   "pam_unix(SERVICE:auth): authentication failure; ... rhost=IP user=U"
//	                                              +1 for services other than sshd and sudo
//	                                              (those log their own lines; not counted twice)
//
// sshd's own PAM lines ("pam_unix(sshd:auth)", "error: PAM:", "PAM 2 more
// authentication failures") repeat attempts already counted and are ignored.
//
// # Metrics
//
//	auth_failures_total{service}       failures since vedetta started (sshd and sudo start at 0)
//	auth_failures_top_sources{source}  failures per source address in top_window, for the top_sources
//	                                   sources only ("local:USER" for local services)
//	auth_failures_top_source{source}   the one source with most failures in top_window (none when quiet)
//	authlog_lines_total                lines (or journal entries) read
//	authlog_rotations_total            rotations and truncations seen (file only)
//
// Source addresses are never labels of the counter: auth_failures_top_source
// is a single series, bounded, that a rule joins to put the worst offender
// into the alarm text. If the top source changes during a burst, the alarm
// for the old one resolves and one for the new one fires.
//
// # Example rule
//
//   - name: LoginBruteForce
//     expr: increase(auth_failures_total, 5m) > 20 && auth_failures_top_source > 0
//     severity: warning
//     summary: "{{ .Value }} failed {{ .Labels.service }} logins on {{ .Labels.target }} in 5 minutes, most from {{ .Labels.source }}"
package authlog

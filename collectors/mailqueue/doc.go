// Package mailqueue is the `kind: mailqueue` collector: spam in progress,
// seen as a growing mail queue, its top senders, and the outbound rate
// from the mail log.
//
// # Configuration
//
//	targets:
//	  - name: mail
//	    kind: mailqueue
//	    interval: 1m
//	    mailqueue:
//	      postqueue: /usr/sbin/postqueue   # default; run as `postqueue -j` (Postfix ≥ 3.1)
//	      config_dir: /etc/postfix-out     # optional: another Postfix instance (postqueue -c DIR)
//	      exim: /usr/sbin/exim4            # instead of postqueue: `exim -bpc` (count only)
//	      maillog: /var/log/mail.log       # optional: delivery counters
//	      top_senders: 5                   # 1..20
//
// postqueue needs no privilege (any user may list the queue, and it works
// even while Postfix is stopped: it then reads the queue directly). If it
// fails ("mail system is down" with no queue access, not found), the
// collector emits no queue samples and returns the error: never zeros that
// look like an empty queue. A message listed twice (the queue moves while it
// is listed) counts once. Unknown JSON members are ignored. The mail log is
// followed like authlog follows auth.log (rotation and truncation; only
// lines written after the first round count).
//
// # Metrics
//
//	mail_queue_messages{queue}          messages per queue: maildrop, incoming, active, deferred, hold
//	                                    (all five always present; "exim" for exim -bpc)
//	mail_queue_bytes{queue}             their size
//	mail_queue_oldest_seconds           age of the oldest queued message (0 for an empty queue)
//	mail_queue_top_senders{sender}      messages per envelope sender, top_senders senders only ("<>" = bounces)
//	mail_queue_top_sender{sender}       the sender with most queued messages (a single series, for alarm text)
//	mail_sent_total                     postfix/smtp deliveries with status=sent since vedetta started
//	mail_deferred_total, mail_bounced_total   the same for status=deferred / bounced (smtp and error agents)
//
// # Example rules (configs/rules.d/mailqueue.yaml)
//
//   - name: MailQueueGrowing
//     expr: mail_queue_messages > 200 && labels.queue != "hold" && mail_queue_top_sender > 0
//     for: 10m
//     summary: "{{ .Value }} messages in the {{ .Labels.queue }} queue on {{ .Labels.target }} (top sender {{ .Labels.sender }})"
//   - name: MailOutboundBurst
//     expr: increase(mail_sent_total, 10m) > 500
package mailqueue

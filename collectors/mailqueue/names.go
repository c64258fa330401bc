package mailqueue

// MetricNames lists every metric the mailqueue collector can emit.
func MetricNames() []string {
	return []string{
		"mail_queue_messages", "mail_queue_bytes", "mail_queue_oldest_seconds",
		"mail_queue_top_senders", "mail_queue_top_sender",
		"mail_sent_total", "mail_deferred_total", "mail_bounced_total",
	}
}

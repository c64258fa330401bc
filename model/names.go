package model

// Metric names that are contracts between packages: written in one room,
// read in another (a rule, the dispatcher's depends_on, the API). A bare
// string on both sides would let a rename break an alarm silently.
const (
	// MetricTargetUp is 1 when a target's last collection succeeded
	// (the scheduler writes it; depends_on and the status page read it).
	MetricTargetUp = "vedetta_target_up"
	// MetricTargetFailures counts a target's consecutive failed
	// collections (the scheduler writes it; TargetUnreachable reads it).
	MetricTargetFailures = "vedetta_target_consecutive_failures"
	// MetricChannelUp is 1 when a notification channel delivered on some
	// provider, 0 when every provider failed (NotificationChannelDown).
	MetricChannelUp = "vedetta_notification_channel_up"
	// MetricProviderUp is a provider's last health probe
	// (NotificationProviderDown).
	MetricProviderUp = "vedetta_notification_provider_up"
	// MetricStateLost is 1 while state that could not be read at start is
	// reported (StateLost).
	MetricStateLost = "vedetta_state_lost"
	// MetricClusterMemberUp is 1 for each member of the initial cluster
	// that holds its membership lease, 0 for one that does not; the
	// dispatcher writes it under ClusterTarget (ClusterMemberDown).
	MetricClusterMemberUp = "vedetta_cluster_member_up"
	// ClusterTarget is the target of the cluster's own samples: polled,
	// as it were, by whichever member is the dispatcher.
	ClusterTarget = "cluster"
	// MetricClusterQuorum is 1 while a member reaches the cluster's quorum,
	// 0 while it does not (ClusterQuorumLost).
	MetricClusterQuorum = "vedetta_cluster_quorum_reachable"
)

// Package probe is the `kind: probe` collector: is a service answering, as
// seen from the data-center host? TCP connect, HTTP(S) status and latency,
// TLS handshake and certificate expiry.
//
// # Configuration (exactly one of http, tcp, tls)
//
//	targets:
//	  - name: intranet
//	    kind: probe
//	    interval: 30s
//	    probe:
//	      http: "https://intranet.example/health"
//	      timeout: 5s                 # default 5s, and never past the target's own timeout
//	      valid_status: [200]         # default: any 2xx or 3xx
//	      no_follow_redirects: false  # default: follow up to 10 redirects
//	      method: GET
//	      ca_file: /etc/vedetta/internal-ca.pem   # else the system roots
//	      server_name: intranet.example           # SNI / name to verify
//	      insecure_skip_verify: false             # expiry is still measured
//	  - {name: db1, kind: probe, probe: {tcp: "db1.example:5432"}}
//	  - {name: ldaps, kind: probe, probe: {tls: "ldap.example:636"}}
//
// A service that does not answer is a result (probe_success 0) and not a
// collection error; the reason is logged when the state changes. Proxies
// from the environment are not used: the probe measures the direct path.
//
// ICMP is not implemented: unprivileged ICMP sockets need
// net.ipv4.ping_group_range to include vedetta's group, which Debian leaves
// at "1 0" (nobody); use kind: exec with check_ping meanwhile.
//
// # Metrics, labelled {probe: http|tcp|tls, address}
//
// The address label is the URL without its credentials (internal/redact:
// https://user:xxxxx@host/?token=xxxxx), and so are the log lines, since
// labels reach /metrics and the alarms of /api/v1/alerts. Two probes whose
// URLs differ only in a secret still differ in their target label.
//
//	probe_success                   1 answered as expected, 0 not (refused, timeout, TLS, status)
//	probe_duration_seconds          time the probe took, connect to last body byte (body read up to 1 MiB)
//	probe_http_status_code          final HTTP status (http only, when a response came)
//	probe_tls_cert_expiry_seconds   seconds until the earliest NotAfter of the certificates the
//	                                server sent (also when verification failed); negative once expired
//
// # Example rules
//
//   - name: ServiceDown
//     expr: probe_success == 0
//     for: 1m
//     severity: critical
//   - name: TLSCertificateExpiring
//     expr: probe_tls_cert_expiry_seconds < 14d
//     severity: warning
package probe

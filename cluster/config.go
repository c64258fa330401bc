// Package cluster runs vedetta on three nodes in three zones: an embedded
// etcd (or an external one) holds the replicated state, one node is
// elected dispatcher and fences every write it makes, and the targets are
// shared out among the live members by rendezvous hashing.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Config is the `cluster:` block. The package owns it: the daemon hands
// it the block's decoder, and every problem names its field.
type Config struct {
	// Node is this member's unique name; Zone its availability zone.
	Node string `yaml:"node"`
	Zone string `yaml:"zone"`
	// DataDir holds the embedded etcd's data (default <state_dir>/etcd).
	DataDir string `yaml:"data_dir"`
	// ListenPeer is the embedded etcd's peer address (host:port), the one
	// port to open between zones; ListenClient its client address, on
	// loopback by default (only this node's daemon talks to it).
	ListenPeer   string `yaml:"listen_peer"`
	ListenClient string `yaml:"listen_client"`
	// Peers is the initial cluster, identical on every node.
	Peers []Peer `yaml:"peers"`
	TLS   *TLS   `yaml:"tls"`
	// Etcd points at an etcd cluster the operator already runs, instead
	// of the embedded one (then listen_*, peers and data_dir are unused).
	Etcd *External `yaml:"etcd"`
	// LeaseTTL bounds how long a dead member keeps its targets and a dead
	// dispatcher its office (default 3s: failover in about 3-4 s).
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Join starts this member as one added to a running cluster (after
	// `vedetta cluster member add` on a live member: a dead node's
	// replacement), not as one of the members that bootstrap it.
	Join bool `yaml:"join"`
	// QuorumTimeout: a node that cannot reach quorum this long goes
	// degraded (default 15s).
	QuorumTimeout time.Duration `yaml:"quorum_timeout"`
}

// Peer is one member of the initial cluster.
type Peer struct {
	Node string `yaml:"node"`
	URL  string `yaml:"url"`
	Zone string `yaml:"zone"`
}

// TLS secures the peer traffic (and the client port) with one CA.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// External is an operator's etcd cluster.
type External struct {
	Endpoints []string `yaml:"endpoints"`
}

// Defaults.
const (
	DefaultLeaseTTL      = 3 * time.Second
	DefaultQuorumTimeout = 15 * time.Second
	DefaultListenClient  = "127.0.0.1:2379"
)

// ParseConfig decodes and checks the cluster block; stateDir and baseDir
// resolve the default and relative data_dir and TLS files. Problems name
// their field (config.Problem); the caller places them in the file.
func ParseConfig(decode func(any) error, stateDir, baseDir string) (*Config, error) {
	var c Config
	if err := decode(&c); err != nil {
		return nil, err
	}
	var probs []error
	bad := func(field, format string, args ...any) {
		probs = append(probs, config.Problem(field, format, args...))
	}
	if c.Node == "" {
		bad("node", "a cluster member needs a unique node name")
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < 2*time.Second || c.LeaseTTL > time.Minute {
		bad("lease_ttl", "must be between 2s and 1m (it is how long a dead member keeps its role)")
	}
	if c.QuorumTimeout == 0 {
		c.QuorumTimeout = DefaultQuorumTimeout
	}
	if c.QuorumTimeout < time.Second {
		bad("quorum_timeout", "must be at least 1s")
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	if c.TLS != nil {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "" {
			bad("tls", "cert_file, key_file and ca_file are all needed")
		}
		c.TLS.CertFile, c.TLS.KeyFile, c.TLS.CAFile = rel(c.TLS.CertFile), rel(c.TLS.KeyFile), rel(c.TLS.CAFile)
	}
	if c.Etcd != nil {
		if len(c.Etcd.Endpoints) == 0 {
			bad("etcd.endpoints", "list the etcd cluster's client URLs")
		}
		for i, e := range c.Etcd.Endpoints {
			if u, err := url.Parse(e); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				bad(fmt.Sprintf("etcd.endpoints[%d]", i), "%q is not an http(s)://host:port URL", e)
			}
		}
		return &c, errors.Join(probs...)
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(stateDir, "etcd")
	}
	c.DataDir = rel(c.DataDir)
	if c.ListenClient == "" {
		c.ListenClient = DefaultListenClient
	}
	if _, _, err := net.SplitHostPort(c.ListenClient); err != nil {
		bad("listen_client", "%q is not host:port", c.ListenClient)
	}
	if _, _, err := net.SplitHostPort(c.ListenPeer); err != nil {
		bad("listen_peer", "%q is not host:port (the address other zones reach this node's etcd on)", c.ListenPeer)
	}
	seen := map[string]bool{}
	self := false
	for i, p := range c.Peers {
		at := fmt.Sprintf("peers[%d]", i)
		if p.Node == "" {
			bad(at+".node", "a peer needs its node name")
		}
		if seen[p.Node] {
			bad(at+".node", "%q is listed twice", p.Node)
		}
		seen[p.Node] = true
		u, err := url.Parse(p.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad(at+".url", "%q is not an http(s)://host:port URL", p.URL)
		} else if u.Scheme == "https" && c.TLS == nil {
			bad(at+".url", "https peers need cluster.tls")
		}
		if p.Node == c.Node {
			self = true
			if p.Zone != "" && c.Zone != "" && p.Zone != c.Zone {
				bad(at+".zone", "%q, but cluster.zone says %q", p.Zone, c.Zone)
			}
			if c.Zone == "" {
				c.Zone = p.Zone
			}
		}
	}
	if len(c.Peers) == 0 {
		bad("peers", "list the initial cluster (every member, this one included)")
	} else if c.Node != "" && !self {
		bad("peers", "this node (%q) is not in the list", c.Node)
	}
	return &c, errors.Join(probs...)
}

package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	// embeddedMaxTxnOps and embeddedMaxRequestBytes let a storm's changes
	// go in one Txn (etcd's defaults, 128 ops and 1.5 MiB, do not). An
	// external etcd must be run with at least as much
	// (--max-txn-ops, --max-request-bytes) for large storms to commit.
	embeddedMaxTxnOps       = 10000
	embeddedMaxRequestBytes = 8 << 20
	// grpcOverhead is what etcd adds to MaxRequestBytes for its gRPC
	// limit; the client may send as much so that an oversized request gets
	// etcd's clear "request is too large" rather than a gRPC error.
	grpcOverhead     = 512 << 10
	quotaBytes       = 2 << 30
	dialTimeout      = 2 * time.Second
	closeTimeout     = 15 * time.Second
	probeTimeout     = 500 * time.Millisecond
	quorumTimeout    = time.Second
	moveLeaderBudget = 5 * time.Second
	// quorumKey is read (never written) to prove that a linearizable read
	// gets through.
	quorumKey = "/vedetta/quorum"
)

// Etcd is this node's handle on the replicated state: an embedded etcd
// member, or a client of the operator's etcd.
type Etcd struct {
	// Client reaches this node's etcd member (or the external cluster).
	Client *clientv3.Client

	log    *slog.Logger
	server *embed.Etcd // nil for an external etcd
	// local is the client URL that reaches this node's own member.
	local string
	// peers maps peer URLs to node names, for members that never started
	// (etcd knows them only by URL).
	peers map[string]string
	// peerTLS is how this node talks to the others' peer ports (for
	// health probes); nil when peer traffic is plain.
	peerTLS *tls.Config
	probe   *http.Client

	closeOnce sync.Once
	closeErr  error
}

// Start starts the embedded etcd member described by c and waits until it
// has joined a cluster with quorum (or ctx ends), or connects to c.Etcd.
// log receives etcd's own warnings at debug and its errors at warn: etcd is
// chatty about ordinary peer churn.
func Start(ctx context.Context, c *Config, log *slog.Logger) (*Etcd, error) {
	if log == nil {
		log = slog.Default()
	}
	if c.Etcd != nil {
		return startExternal(ctx, c, log)
	}
	return startEmbedded(ctx, c, log)
}

func tlsInfo(t *TLS, clientAuth bool) transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       t.CertFile,
		KeyFile:        t.KeyFile,
		TrustedCAFile:  t.CAFile,
		ClientCertAuth: clientAuth,
	}
}

func startExternal(ctx context.Context, c *Config, log *slog.Logger) (*Etcd, error) {
	cfg := clientConfig(c.Etcd.Endpoints, log)
	if c.TLS != nil {
		tc, err := tlsInfo(c.TLS, false).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd client TLS: %w", err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to etcd %s: %w", strings.Join(c.Etcd.Endpoints, ","), err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.MemberList(cctx, clientv3.WithSerializable()); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("cluster: etcd %s does not answer: %w", strings.Join(c.Etcd.Endpoints, ","), err)
	}
	log.Info("using an external etcd", "endpoints", c.Etcd.Endpoints)
	return &Etcd{Client: cli, log: log, local: c.Etcd.Endpoints[0], peers: map[string]string{}}, nil
}

func clientConfig(endpoints []string, log *slog.Logger) clientv3.Config {
	return clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        dialTimeout,
		MaxCallSendMsgSize: embeddedMaxRequestBytes + grpcOverhead,
		Logger:             zap.New(slogCore{log: log.With("layer", "etcd-client")}),
		// Keepalives notice a dead connection to an external member
		// within seconds rather than at the kernel's TCP timeout.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	}
}

func startEmbedded(ctx context.Context, c *Config, log *slog.Logger) (*Etcd, error) {
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	listenPeer := url.URL{Scheme: scheme, Host: c.ListenPeer}
	listenClient := url.URL{Scheme: scheme, Host: c.ListenClient}
	// The others know this member by its URL in peers (etcd refuses an
	// advertised URL that the initial cluster does not list); listen_peer
	// may be a wildcard address.
	advertisePeer := listenPeer
	peers := map[string]string{}
	var initial []string
	for _, p := range c.Peers {
		initial = append(initial, p.Node+"="+p.URL)
		peers[p.URL] = p.Node
		if p.Node == c.Node {
			u, err := url.Parse(p.URL)
			if err != nil {
				return nil, fmt.Errorf("cluster: peer url %q: %w", p.URL, err)
			}
			advertisePeer = *u
		}
	}

	cfg := embed.NewConfig()
	cfg.Name = c.Node
	cfg.Dir = c.DataDir
	cfg.ListenPeerUrls = []url.URL{listenPeer}
	cfg.AdvertisePeerUrls = []url.URL{advertisePeer}
	cfg.ListenClientUrls = []url.URL{listenClient}
	cfg.AdvertiseClientUrls = []url.URL{listenClient}
	cfg.InitialCluster = strings.Join(initial, ",")
	cfg.InitialClusterToken = "vedetta"
	// With a WAL in the data dir etcd restarts from it whatever this says;
	// without one this member bootstraps the cluster with its peers, or,
	// with cluster.join, joins the running cluster it was added to.
	cfg.ClusterState = embed.ClusterStateFlagNew
	if _, err := os.Stat(filepath.Join(c.DataDir, "member")); err == nil || c.Join {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.MaxTxnOps = embeddedMaxTxnOps
	cfg.MaxRequestBytes = embeddedMaxRequestBytes
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	cfg.QuotaBackendBytes = quotaBytes
	cfg.TickMs = 100
	cfg.ElectionMs = 1000
	cfg.EnableGRPCGateway = false
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(slogCore{log: log.With("layer", "etcd")}))

	var peerTLS *tls.Config
	if c.TLS != nil {
		cfg.PeerTLSInfo = tlsInfo(c.TLS, true)
		// The client port is loopback but still demands a certificate:
		// another local user must not read the state.
		cfg.ClientTLSInfo = tlsInfo(c.TLS, true)
		var err error
		if peerTLS, err = tlsInfo(c.TLS, false).ClientConfig(); err != nil {
			return nil, fmt.Errorf("cluster: peer TLS: %w", err)
		}
	} else {
		log.Warn("cluster peer traffic is NOT encrypted: anyone on the path between zones can read and forge vedetta's state; set cluster.tls",
			"listen_peer", c.ListenPeer, "node", c.Node)
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting etcd member %s: %w", c.Node, err)
	}
	// Close alone would wait for the client servers, which wait for the
	// member to be ready or stopping: a member that never got ready is
	// stopped first.
	stop := func() { _ = closeBounded(e, log, true) }
	select {
	case <-e.Server.ReadyNotify():
	case <-e.Server.StopNotify():
		err := <-e.Err()
		stop()
		return nil, fmt.Errorf("cluster: etcd member %s stopped while starting: %v", c.Node, err)
	case err := <-e.Err():
		stop()
		return nil, fmt.Errorf("cluster: etcd member %s: %w", c.Node, err)
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("cluster: etcd member %s found no quorum with %s: %w", c.Node, cfg.InitialCluster, ctx.Err())
	}

	ccfg := clientConfig([]string{listenClient.String()}, log)
	if c.TLS != nil {
		tc, err := tlsInfo(c.TLS, false).ClientConfig()
		if err != nil {
			stop()
			return nil, fmt.Errorf("cluster: client TLS: %w", err)
		}
		// The certificate is certainly valid for the name the peers
		// reach this member by; it need not name the loopback address.
		tc.ServerName = advertisePeer.Hostname()
		ccfg.TLS = tc
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		stop()
		return nil, fmt.Errorf("cluster: client of the local etcd: %w", err)
	}
	log.Info("etcd member ready", "node", c.Node, "peer_url", advertisePeer.String(),
		"client_url", listenClient.String(), "state", cfg.ClusterState)
	return &Etcd{
		Client:  cli,
		log:     log,
		server:  e,
		local:   listenClient.String(),
		peers:   peers,
		peerTLS: peerTLS,
		probe: &http.Client{
			Timeout:   probeTimeout,
			Transport: &http.Transport{TLSClientConfig: peerTLS, DisableKeepAlives: true},
		},
	}, nil
}

// closeBounded stops the member, giving up waiting after closeTimeout (it
// then finishes in the background) so that a shutdown is never held by a
// member that cannot reach its peers.
func closeBounded(e *embed.Etcd, log *slog.Logger, stopFirst bool) error {
	done := make(chan struct{})
	go func() {
		if stopFirst {
			e.Server.Stop()
		}
		e.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(closeTimeout):
		log.Warn("etcd member still stopping; not waiting for it", "waited", closeTimeout)
		return fmt.Errorf("cluster: etcd did not stop within %s", closeTimeout)
	}
}

// Close closes the client, then stops the embedded member (which hands
// raft leadership to a peer first when it has it).
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		err := e.Client.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		if e.server != nil {
			err = errors.Join(err, closeBounded(e.server, e.log, false))
		}
		e.closeErr = err
	})
	return e.closeErr
}

// Status is the cluster as this node sees it.
type Status struct {
	Leader  string // the raft leader's node name; "" when there is none
	Members []RaftMember
	Quorum  bool // a linearizable read got through within a second
}

// RaftMember is one etcd member.
type RaftMember struct {
	Name    string
	PeerURL string
	Healthy bool
}

// Status reports the members, the raft leader and whether there is quorum.
// It answers (Quorum false) even when quorum is gone: only this node's
// member not answering at all is an error.
func (e *Etcd) Status(ctx context.Context) (Status, error) {
	var st Status
	mctx, cancel := context.WithTimeout(ctx, probeTimeout*2)
	ml, err := e.Client.MemberList(mctx, clientv3.WithSerializable())
	cancel()
	if err != nil {
		return st, fmt.Errorf("cluster: etcd member list: %w", err)
	}
	names := map[uint64]string{}
	for _, m := range ml.Members {
		names[m.ID] = e.memberName(m.Name, m.PeerURLs)
	}

	var wg sync.WaitGroup
	st.Members = make([]RaftMember, len(ml.Members))
	var leaderID uint64
	for i, m := range ml.Members {
		st.Members[i] = RaftMember{Name: names[m.ID]}
		if len(m.PeerURLs) > 0 {
			st.Members[i].PeerURL = m.PeerURLs[0]
		}
		wg.Go(func() {
			ok, lead := e.probeMember(ctx, m.ID == ml.Header.MemberId, m.PeerURLs, m.ClientURLs)
			st.Members[i].Healthy = ok
			if lead != 0 && m.ID == ml.Header.MemberId {
				leaderID = lead
			}
		})
	}
	wg.Go(func() {
		qctx, cancel := context.WithTimeout(ctx, quorumTimeout)
		defer cancel()
		_, err := e.Client.Get(qctx, quorumKey)
		st.Quorum = err == nil
	})
	wg.Wait()
	st.Leader = names[leaderID]
	slices.SortFunc(st.Members, func(a, b RaftMember) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

func (e *Etcd) memberName(name string, peerURLs []string) string {
	if name != "" {
		return name
	}
	for _, u := range peerURLs {
		if n, ok := e.peers[u]; ok {
			return n
		}
	}
	return ""
}

// probeMember says whether a member answers, and (for the member this
// client talks to) who it takes for raft leader. An embedded member's
// peers advertise loopback client URLs (their own daemon's), useless from
// here, so they are probed on their peer port instead.
func (e *Etcd) probeMember(ctx context.Context, self bool, peerURLs, clientURLs []string) (ok bool, leader uint64) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch {
	case self && e.server != nil:
		s, err := e.Client.Status(ctx, e.local)
		if err != nil {
			return false, 0
		}
		return len(s.Errors) == 0, s.Leader
	case e.server == nil:
		if len(clientURLs) == 0 {
			return false, 0
		}
		s, err := e.Client.Status(ctx, clientURLs[0])
		if err != nil {
			return false, 0
		}
		return len(s.Errors) == 0, s.Leader
	default:
		if len(peerURLs) == 0 {
			return false, 0
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURLs[0]+"/version", nil)
		if err != nil {
			return false, 0
		}
		resp, err := e.probe.Do(req)
		if err != nil {
			return false, 0
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, 0
	}
}

// IsRaftLeader says whether this node's embedded member leads raft
// (always false with an external etcd).
func (e *Etcd) IsRaftLeader() bool {
	if e.server == nil {
		return false
	}
	s := e.server.Server
	return s.Lead() == uint64(s.MemberID())
}

// MoveLeaderAway hands raft leadership to another healthy member when this
// one has it: the dispatcher's node then does not also carry the raft
// leader's load, and losing that node costs one election, not two at once.
// A no-op with an external etcd, when another member leads, or when there
// is no other member.
func (e *Etcd) MoveLeaderAway(ctx context.Context) error {
	if !e.IsRaftLeader() {
		return nil
	}
	s := e.server.Server
	self := uint64(s.MemberID())
	mctx, cancel := context.WithTimeout(ctx, probeTimeout*2)
	ml, err := e.Client.MemberList(mctx, clientv3.WithSerializable())
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: move raft leader: %w", err)
	}
	members := slices.Clone(ml.Members)
	slices.SortFunc(members, func(a, b *etcdserverpb.Member) int { return strings.Compare(a.Name, b.Name) })
	others := 0
	for _, m := range members {
		if m.ID == self || m.IsLearner || m.Name == "" {
			continue
		}
		others++
		if ok, _ := e.probeMember(ctx, false, m.PeerURLs, m.ClientURLs); !ok {
			continue
		}
		tctx := ctx
		if _, has := ctx.Deadline(); !has {
			var cancel context.CancelFunc
			tctx, cancel = context.WithTimeout(ctx, moveLeaderBudget)
			defer cancel()
		}
		start := time.Now()
		if err := s.MoveLeader(tctx, self, m.ID); err != nil {
			return fmt.Errorf("cluster: moving raft leadership to %s: %w", m.Name, err)
		}
		e.log.Info("moved raft leadership away from the dispatcher's node", "to", m.Name, "took", time.Since(start))
		return nil
	}
	if others == 0 {
		return nil // a cluster of one: nowhere to move it
	}
	return errors.New("cluster: move raft leader: no other member is healthy")
}

// Dial connects a client to the etcd this member's daemon uses (its
// embedded member's client port, or the external endpoints): for the
// `vedetta cluster member` commands, run on the node.
func Dial(c *Config) (*clientv3.Client, error) {
	log := slog.New(slog.DiscardHandler)
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	endpoints := []string{scheme + "://" + c.ListenClient}
	if c.Etcd != nil {
		endpoints = c.Etcd.Endpoints
	}
	cfg := clientConfig(endpoints, log)
	if c.TLS != nil {
		tc, err := tlsInfo(c.TLS, false).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster: client TLS: %w", err)
		}
		if c.Etcd == nil {
			for _, p := range c.Peers {
				if u, err := url.Parse(p.URL); err == nil && p.Node == c.Node {
					tc.ServerName = u.Hostname() // as the daemon's own client does
				}
			}
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

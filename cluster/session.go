package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

const (
	membersPrefix = "/vedetta/members/"
	// electionPrefix is the dispatcher election; concurrency.Election
	// keeps its candidates under electionPrefix + "/".
	electionPrefix = "/vedetta/dispatcher"
)

// Member is a live node, as published in etcd while its lease lives.
type Member struct {
	Node  string    `json:"node"`
	Zone  string    `json:"zone"`
	Since time.Time `json:"since"`
}

// newSession grants its own lease (under ctx, which Grant obeys) and keeps
// it alive for as long as the client lives or until Close: the session
// outlives the caller's ctx on purpose.
func newSession(ctx context.Context, cli *clientv3.Client, ttl time.Duration) (*concurrency.Session, error) {
	secs := int(math.Ceil(ttl.Seconds()))
	if secs < 1 {
		secs = 1
	}
	lease, err := cli.Grant(ctx, int64(secs))
	if err != nil {
		return nil, fmt.Errorf("cluster: lease: %w", err)
	}
	s, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(secs))
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = cli.Revoke(rctx, lease.ID)
		cancel()
		return nil, fmt.Errorf("cluster: lease keepalive: %w", err)
	}
	return s, nil
}

// closeSession revokes the session's lease; one that already expired is
// not an error (it is gone either way).
func closeSession(s *concurrency.Session) error {
	err := s.Close()
	if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil
	}
	return fmt.Errorf("cluster: revoking lease %x: %w", int64(s.Lease()), err)
}

// Membership is this node's entry in the member list, alive with its lease.
type Membership struct {
	m     Member
	s     *concurrency.Session
	fence Fence
}

// Join publishes m under /vedetta/members/<node> on a lease of ttl of its
// own: when the node dies or is cut off, the entry goes with the lease and
// the others take over its targets.
func Join(ctx context.Context, cli *clientv3.Client, m Member, ttl time.Duration) (*Membership, error) {
	if m.Node == "" || strings.Contains(m.Node, "/") {
		return nil, fmt.Errorf("cluster: bad node name %q", m.Node)
	}
	if m.Since.IsZero() {
		m.Since = time.Now()
	}
	val, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s, err := newSession(ctx, cli, ttl)
	if err != nil {
		return nil, err
	}
	key := membersPrefix + m.Node
	if _, err := cli.Put(ctx, key, string(val), clientv3.WithLease(s.Lease())); err != nil {
		_ = closeSession(s)
		return nil, fmt.Errorf("cluster: join as %s: %w", m.Node, err)
	}
	// The fence is the entry as it is now: a key left by an earlier
	// session keeps its create revision, so read it back.
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != s.Lease() {
		_ = closeSession(s)
		return nil, fmt.Errorf("cluster: join as %s: the entry did not stay (%v)", m.Node, err)
	}
	return &Membership{m: m, s: s, fence: Fence{Key: key, Rev: resp.Kvs[0].CreateRevision}}, nil
}

// Fence holds while this membership does: a member's writes carry it, so
// that one that was cut off or paused past its lease writes nothing of
// what it saw meanwhile.
func (m *Membership) Fence() Fence { return m.fence }

// Member is what was published.
func (m *Membership) Member() Member { return m.m }

// Done is closed when the lease is lost: the others no longer see this
// node, and it must stop collecting until it joins again.
func (m *Membership) Done() <-chan struct{} { return m.s.Done() }

// Close leaves the cluster at once (revoking the lease) rather than after
// the lease's TTL.
func (m *Membership) Close() error { return closeSession(m.s) }

// WatchMembers calls fn with the sorted list of live members now and on
// every change, until ctx ends. After a watch error (compaction, lost
// quorum) it reads the list afresh, so fn always gets a whole list.
func WatchMembers(ctx context.Context, cli *clientv3.Client, fn func([]Member)) error {
	backoff := 100 * time.Millisecond
	for {
		err := watchMembersOnce(ctx, cli, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func watchMembersOnce(ctx context.Context, cli *clientv3.Client, fn func([]Member)) error {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := cli.Get(gctx, membersPrefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return err
	}
	live := map[string]Member{}
	for _, kv := range resp.Kvs {
		live[string(kv.Key)] = decodeMember(kv)
	}
	fn(sortedMembers(live))
	// RequireLeader: a member cut off from quorum gets an error instead of
	// a watch that silently sees nothing.
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := cli.Watch(wctx, membersPrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return err
		}
		if len(wr.Events) == 0 {
			continue
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				delete(live, string(ev.Kv.Key))
			} else {
				live[string(ev.Kv.Key)] = decodeMember(ev.Kv)
			}
		}
		fn(sortedMembers(live))
	}
	return errors.New("cluster: member watch closed")
}

func decodeMember(kv *mvccpb.KeyValue) Member {
	var m Member
	if err := json.Unmarshal(kv.Value, &m); err != nil || m.Node == "" {
		// Still a live member: its key says who it is.
		m = Member{Node: strings.TrimPrefix(string(kv.Key), membersPrefix)}
	}
	return m
}

func sortedMembers(live map[string]Member) []Member {
	list := make([]Member, 0, len(live))
	for _, m := range live {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b Member) int { return cmp.Compare(a.Node, b.Node) })
	return list
}

// Leadership is the dispatcher role, held while its lease lives.
type Leadership struct {
	// Fence proves the role in every write (Store.Fenced).
	Fence Fence
	Node  string

	s    *concurrency.Session
	e    *concurrency.Election
	done chan struct{}
	stop context.CancelFunc
	once sync.Once
}

// Campaign blocks until node is elected dispatcher, or ctx ends. The
// election runs on a lease of its own, not the membership's, so that
// renewing or losing one never takes the other with it.
func Campaign(ctx context.Context, cli *clientv3.Client, node string, ttl time.Duration) (*Leadership, error) {
	for {
		l, err := campaignOnce(ctx, cli, node, ttl)
		if l != nil || err != nil {
			return l, err
		}
		// The lease died while we waited our turn: stand again.
	}
}

func campaignOnce(ctx context.Context, cli *clientv3.Client, node string, ttl time.Duration) (*Leadership, error) {
	s, err := newSession(ctx, cli, ttl)
	if err != nil {
		return nil, err
	}
	e := concurrency.NewElection(s, electionPrefix)
	if err := e.Campaign(ctx, node); err != nil {
		_ = closeSession(s)
		return nil, fmt.Errorf("cluster: campaign: %w", err)
	}
	// Campaign returns once the earlier candidates are gone, without
	// checking that our own key outlived the wait.
	resp, err := cli.Get(ctx, e.Key())
	if err != nil {
		_ = closeSession(s)
		return nil, fmt.Errorf("cluster: campaign: %w", err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].CreateRevision != e.Rev() {
		_ = closeSession(s)
		return nil, nil
	}
	wctx, stop := context.WithCancel(context.Background())
	l := &Leadership{
		Fence: Fence{Key: e.Key(), Rev: e.Rev()},
		Node:  node,
		s:     s,
		e:     e,
		done:  make(chan struct{}),
		stop:  stop,
	}
	go l.watch(wctx, cli)
	return l, nil
}

// watch closes done when the session dies or the leader key goes.
func (l *Leadership) watch(ctx context.Context, cli *clientv3.Client) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := cli.Watch(wctx, l.Fence.Key, clientv3.WithRev(l.Fence.Rev+1))
		gone := l.follow(ctx, wch)
		cancel()
		if gone || ctx.Err() != nil {
			return
		}
		// The watch broke (compaction, no leader): look at the key.
		select {
		case <-ctx.Done():
			return
		case <-l.s.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
		gctx, gcancel := context.WithTimeout(ctx, time.Second)
		resp, err := cli.Get(gctx, l.Fence.Key)
		gcancel()
		if err == nil && (len(resp.Kvs) != 1 || resp.Kvs[0].CreateRevision != l.Fence.Rev) {
			return
		}
	}
}

// follow reads the watch until the key is deleted or the session dies
// (gone), or the watch breaks.
func (l *Leadership) follow(ctx context.Context, wch clientv3.WatchChan) (gone bool) {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-l.s.Done():
			return true
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				return false
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || ev.Kv.CreateRevision != l.Fence.Rev {
					return true
				}
			}
		}
	}
}

// Done is closed when the role is lost: the lease expired or was revoked,
// the leader key was deleted, or Resign.
func (l *Leadership) Done() <-chan struct{} { return l.done }

// Resign hands the role over at once (the next candidate need not wait for
// the lease to expire). The lease is revoked even when deleting the key
// fails, so the role is never kept by accident.
func (l *Leadership) Resign(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		err = l.e.Resign(ctx)
		l.stop()
		if cerr := closeSession(l.s); err == nil {
			err = cerr
		}
		<-l.done
	})
	if err != nil {
		return fmt.Errorf("cluster: resign: %w", err)
	}
	return nil
}

// Leader is the current dispatcher's node name, "" when there is none.
func Leader(ctx context.Context, cli *clientv3.Client) (string, error) {
	resp, err := cli.Get(ctx, electionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("cluster: dispatcher: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

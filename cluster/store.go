package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vedetta-dc/vedetta/internal/store"
)

// storeRoot is where the buckets live: /vedetta/s/<bucket>/<key>.
const storeRoot = "/vedetta/s/"

const (
	// maxAttempts bounds the retries of a transaction that keeps losing
	// to concurrent writers; past it the caller backs off like for a full
	// disk.
	maxAttempts = 10
	// maxCompares keeps the If of one Txn within the embedded etcd's
	// MaxTxnOps (etcd refuses a larger Txn outright).
	maxCompares = embeddedMaxTxnOps
	// rangePage bounds one Range response: a bucket of a storm's outbox
	// would otherwise come back as one huge gRPC message.
	rangePage = 1000
	// DefaultOpTimeout is used when NewStore is given no timeout.
	DefaultOpTimeout = 5 * time.Second
)

var (
	// ErrFenced: a FencedStore's fence no longer holds (its leader lost
	// the election). Nothing was written; the caller must stop acting as
	// leader.
	ErrFenced = errors.New("cluster: fenced: the dispatcher lease behind this store was lost")
	// ErrConflict: the transaction lost to concurrent writers on every
	// attempt. Nothing was written.
	ErrConflict = errors.New("cluster: transaction kept conflicting with concurrent writes")
	errReadOnly = errors.New("cluster: write in a read-only transaction")
	errNoKey    = errors.New("cluster: empty key")
)

// Store is store.Store on etcd: serializable transactions by optimistic
// concurrency. A transaction reads at one snapshot revision (taken at its
// first read), buffers its writes, and commits with one Txn whose If says
// that nothing it read or wrote changed since the snapshot; when it did,
// fn runs again from scratch on a fresh snapshot.
//
// What the If cannot see: a key deleted, after the snapshot, from a bucket
// the transaction ranged over with ForEach is detected only while the
// transaction's compares fit in one Txn (maxCompares); past that, the
// bucket is checked as a whole (no key in it changed or appeared), which
// misses such deletions. vedetta has one writer per bucket (the
// dispatcher) except the inbox, whose records are only ever added, so this
// does not arise there.
//
// A commit that fails with an etcd error (no quorum, a timeout) returns
// that error: as with a full disk, the caller retries later. As with any
// etcd client, a timed-out commit may still have been applied.
type Store struct {
	cli     *clientv3.Client
	timeout time.Duration
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Store = (*FencedStore)(nil)
)

// NewStore returns a Store on cli; every etcd call of a transaction gets
// opTimeout (DefaultOpTimeout when zero).
func NewStore(cli *clientv3.Client, opTimeout time.Duration) *Store {
	if opTimeout <= 0 {
		opTimeout = DefaultOpTimeout
	}
	return &Store{cli: cli, timeout: opTimeout}
}

// View implements store.Store. It reads one consistent snapshot and never
// writes.
func (s *Store) View(fn func(store.Tx) error) error {
	t := s.newTx(false)
	err := fn(t)
	if t.err != nil {
		return t.err
	}
	return err
}

// Update implements store.Store.
func (s *Store) Update(fn func(store.Tx) error) error { return s.update(fn, nil) }

// Close implements store.Store: the client belongs to Etcd.
func (s *Store) Close() error { return nil }

// Fence is the proof that a node holds the dispatcher role: the leader key
// and its CreateRevision. A new election creates a new key, so the pair
// never comes back once lost.
type Fence struct {
	Key string
	Rev int64
}

// FencedStore is a Store whose every Update commits only while its fence
// holds, so that a dispatcher that lost its role (partitioned, paused,
// slow) cannot write after its successor started.
type FencedStore struct {
	s *Store
	f Fence

	mu   sync.Mutex
	last time.Time
}

// Fenced returns s behind f.
func (s *Store) Fenced(f Fence) *FencedStore { return &FencedStore{s: s, f: f} }

// View implements store.Store. Reads are not fenced: they change nothing.
func (f *FencedStore) View(fn func(store.Tx) error) error { return f.s.View(fn) }

// Update implements store.Store; ErrFenced when the fence is gone.
func (f *FencedStore) Update(fn func(store.Tx) error) error { return f.s.update(fn, f) }

// Close implements store.Store: the client belongs to Etcd.
func (f *FencedStore) Close() error { return nil }

// Fence is the fence this store checks.
func (f *FencedStore) Fence() Fence { return f.f }

// LastFenced is when the latest request that proved the fence held was
// sent (an Update's commit or Check): the dispatcher knows it was leader at
// least until then, and stops sending once that is older than its lease.
func (f *FencedStore) LastFenced() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Check proves the fence with one linearizable read: ErrFenced when it is
// gone, an etcd error when that cannot be known.
func (f *FencedStore) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.s.timeout)
	defer cancel()
	start := time.Now()
	resp, err := f.s.cli.Get(ctx, f.f.Key)
	if err != nil {
		return fmt.Errorf("cluster: checking the dispatcher fence: %w", err)
	}
	if !f.holds(resp.Kvs) {
		return ErrFenced
	}
	f.proved(start)
	return nil
}

func (f *FencedStore) holds(kvs []*mvccpb.KeyValue) bool {
	return len(kvs) == 1 && kvs[0].CreateRevision == f.f.Rev
}

func (f *FencedStore) proved(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.last) {
		f.last = at
	}
}

func (s *Store) update(fn func(store.Tx) error, f *FencedStore) error {
	for attempt := range maxAttempts {
		if attempt > 0 {
			// Jitter, so that two transactions that collided do not
			// collide again in lock step.
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond))))
		}
		t := s.newTx(true)
		err := fn(t)
		if t.err != nil {
			if errors.Is(t.err, rpctypes.ErrCompacted) {
				continue // the snapshot is gone: take a fresh one
			}
			// fn may have acted on a nil value that was really a failed
			// read: the read error is the one to report.
			return t.err
		}
		if err != nil {
			return err
		}
		if len(t.writes) == 0 && f == nil {
			// A read-only transaction at one snapshot is serializable
			// as it is: nothing to commit.
			t.committed()
			return nil
		}
		ok, err := s.commit(t, f)
		if err != nil {
			return err
		}
		if ok {
			t.committed()
			return nil
		}
	}
	return fmt.Errorf("%w (%d attempts)", ErrConflict, maxAttempts)
}

// commit sends t's writes in one Txn guarded by its reads. ok false means
// a conflict: run fn again.
func (s *Store) commit(t *tx, f *FencedStore) (ok bool, err error) {
	cmps := t.compares()
	if f != nil {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(f.f.Key), "=", f.f.Rev))
	}
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops := make([]clientv3.Op, 0, len(keys))
	for _, k := range keys {
		if w := t.writes[k]; w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.value)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	txn := s.cli.Txn(ctx).If(cmps...).Then(ops...)
	if f != nil {
		txn = txn.Else(clientv3.OpGet(f.f.Key))
	}
	start := time.Now()
	resp, err := txn.Commit()
	if err != nil {
		return false, fmt.Errorf("cluster: commit (%d writes): %w", len(ops), err)
	}
	if resp.Succeeded {
		if f != nil {
			f.proved(start)
		}
		return true, nil
	}
	if f != nil {
		if len(resp.Responses) != 1 || !f.holds(resp.Responses[0].GetResponseRange().GetKvs()) {
			return false, ErrFenced
		}
		f.proved(start)
	}
	return false, nil
}

// tx is one attempt of a transaction.
type tx struct {
	s        *Store
	writable bool
	rev      int64               // snapshot revision; 0 until the first read
	reads    map[string]read     // what each key read was at rev
	ranged   map[string][]string // bucket prefix → its keys at rev, sorted
	writes   map[string]write
	onCommit []func()
	err      error // the first failed read: the attempt is void
}

type read struct {
	value  []byte
	mod    int64 // ModRevision; 0 when the key did not exist
	point  bool  // read by Get, not only seen by ForEach
	exists bool
}

type write struct {
	value []byte
	del   bool
}

func (s *Store) newTx(writable bool) *tx {
	return &tx{
		s:        s,
		writable: writable,
		reads:    map[string]read{},
		ranged:   map[string][]string{},
		writes:   map[string]write{},
	}
}

// Watch follows the changes to one bucket (the dispatcher watches the
// inbox: it drains it as it fills, not on a timer).
func (s *Store) Watch(ctx context.Context, bucket string) clientv3.WatchChan {
	p, err := bucketPrefix(bucket)
	if err != nil {
		ch := make(chan clientv3.WatchResponse)
		close(ch)
		return ch
	}
	return s.cli.Watch(ctx, p, clientv3.WithPrefix())
}

func bucketPrefix(bucket string) (string, error) {
	if bucket == "" || strings.Contains(bucket, "/") {
		// A "/" would make one bucket's range cover another's keys.
		return "", fmt.Errorf("cluster: bad bucket name %q", bucket)
	}
	return storeRoot + bucket + "/", nil
}

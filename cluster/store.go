package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
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

func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// Get implements store.Tx. A failed read returns nil and voids the
// transaction: Update and View then return the read's error.
func (t *tx) Get(bucket, key string) []byte {
	if t.err != nil {
		return nil
	}
	p, err := bucketPrefix(bucket)
	if err != nil {
		t.fail(err)
		return nil
	}
	k := p + key
	if w, ok := t.writes[k]; ok {
		if w.del {
			return nil
		}
		return w.value
	}
	if r, ok := t.reads[k]; ok {
		if !r.point {
			r.point = true
			t.reads[k] = r
		}
		return r.value
	}
	if _, ok := t.ranged[p]; ok {
		// The bucket was read whole at rev: the key was not in it.
		t.reads[k] = read{point: true}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.s.timeout)
	defer cancel()
	var opts []clientv3.OpOption
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(ctx, k, opts...)
	if err != nil {
		t.fail(fmt.Errorf("cluster: read %s/%s: %w", bucket, key, err))
		return nil
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	r := read{point: true}
	if len(resp.Kvs) == 1 {
		r = read{value: nonNil(resp.Kvs[0].Value), mod: resp.Kvs[0].ModRevision, point: true, exists: true}
	}
	t.reads[k] = r
	return r.value
}

// nonNil keeps an empty value distinct from a missing key, as in bbolt.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Put implements store.Tx.
func (t *tx) Put(bucket, key string, value []byte) error {
	return t.write(bucket, key, write{value: append([]byte{}, value...)})
}

// Delete implements store.Tx.
func (t *tx) Delete(bucket, key string) error {
	return t.write(bucket, key, write{del: true})
}

func (t *tx) write(bucket, key string, w write) error {
	if t.err != nil {
		return t.err
	}
	if !t.writable {
		return errReadOnly
	}
	if key == "" {
		return errNoKey
	}
	p, err := bucketPrefix(bucket)
	if err != nil {
		return err
	}
	t.writes[p+key] = w
	return nil
}

// ForEach implements store.Tx: the bucket at the snapshot with the
// transaction's own writes merged in, in key order. Writes fn makes while
// it runs are not visited.
func (t *tx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if t.err != nil {
		return t.err
	}
	p, err := bucketPrefix(bucket)
	if err != nil {
		return err
	}
	base, ok := t.ranged[p]
	if !ok {
		if base, err = t.rangeBucket(p); err != nil {
			t.fail(fmt.Errorf("cluster: read bucket %s: %w", bucket, err))
			return t.err
		}
	}
	var mine []string
	for k := range t.writes {
		if strings.HasPrefix(k, p) {
			mine = append(mine, k)
		}
	}
	slices.Sort(mine)
	writes := make(map[string]write, len(mine))
	for _, k := range mine {
		writes[k] = t.writes[k]
	}
	i, j := 0, 0
	for i < len(base) || j < len(mine) {
		var k string
		switch {
		case j == len(mine) || (i < len(base) && base[i] < mine[j]):
			k = base[i]
			i++
		case i == len(base) || mine[j] < base[i]:
			k = mine[j]
			j++
		default: // the same key: the buffered write wins
			k = mine[j]
			i++
			j++
		}
		var v []byte
		if w, ok := writes[k]; ok {
			if w.del {
				continue
			}
			v = w.value
		} else {
			v = t.reads[k].value
		}
		if err := fn(k[len(p):], v); err != nil {
			return err
		}
	}
	return nil
}

// rangeBucket reads every key of the bucket at the snapshot, page by page.
func (t *tx) rangeBucket(p string) ([]string, error) {
	end := clientv3.GetPrefixRangeEnd(p)
	from := p
	var keys []string
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(rangePage)}
		if t.rev > 0 {
			opts = append(opts, clientv3.WithRev(t.rev))
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.s.timeout)
		resp, err := t.s.cli.Get(ctx, from, opts...)
		cancel()
		if err != nil {
			return nil, err
		}
		if t.rev == 0 {
			t.rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			keys = append(keys, k)
			if r, ok := t.reads[k]; !ok || !r.point {
				t.reads[k] = read{value: nonNil(kv.Value), mod: kv.ModRevision, exists: true}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	t.ranged[p] = keys
	return keys, nil
}

// committed runs the callbacks of the attempt that committed.
func (t *tx) committed() {
	for _, fn := range t.onCommit {
		fn()
	}
}

// OnCommit implements store.Tx. Callbacks of an attempt that is retried
// are dropped with it.
func (t *tx) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

// compares is the If of t's commit: every key read is as it was at the
// snapshot, every key written unchanged since, and for a bucket read whole
// no key in it changed or appeared since.
func (t *tx) compares() []clientv3.Cmp {
	if t.rev == 0 {
		// Blind writes only: nothing read, nothing to check.
		return nil
	}
	type group struct {
		prefix string
		keys   []clientv3.Cmp
		whole  bool // check the bucket as a whole
	}
	groups := map[string]*group{}
	groupOf := func(k string) *group {
		p := k[:len(storeRoot)+strings.IndexByte(k[len(storeRoot):], '/')+1]
		g := groups[p]
		if g == nil {
			g = &group{prefix: p}
			groups[p] = g
		}
		return g
	}
	for p := range t.ranged {
		groupOf(p).whole = true
	}
	keys := make([]string, 0, len(t.reads)+len(t.writes))
	for k := range t.reads {
		keys = append(keys, k)
	}
	for k := range t.writes {
		if _, ok := t.reads[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		g := groupOf(k)
		r, wasRead := t.reads[k]
		switch {
		case !wasRead:
			if g.whole {
				continue // the bucket check covers it
			}
			g.keys = append(g.keys, clientv3.Compare(clientv3.ModRevision(k), "<", t.rev+1))
		case r.exists:
			// Equality, not "< rev+1": a key deleted since has
			// ModRevision 0 and would pass.
			g.keys = append(g.keys, clientv3.Compare(clientv3.ModRevision(k), "=", r.mod))
		default:
			if g.whole {
				continue // an insert shows in the bucket check
			}
			g.keys = append(g.keys, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		}
	}
	list := make([]*group, 0, len(groups))
	total := 1 // the fence
	for _, g := range groups {
		list = append(list, g)
		total += len(g.keys)
		if g.whole {
			total++
		}
	}
	// Too many for one Txn: check the busiest buckets as a whole instead,
	// which only loses the detection of deletions in them.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].keys) != len(list[j].keys) {
			return len(list[i].keys) > len(list[j].keys)
		}
		return list[i].prefix < list[j].prefix
	})
	for _, g := range list {
		if total <= maxCompares {
			break
		}
		total -= len(g.keys)
		g.keys = nil
		if !g.whole {
			g.whole = true
			total++
		}
	}
	slices.SortFunc(list, func(a, b *group) int { return strings.Compare(a.prefix, b.prefix) })
	var cmps []clientv3.Cmp
	for _, g := range list {
		if g.whole {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(g.prefix), "<", t.rev+1).
				WithRange(clientv3.GetPrefixRangeEnd(g.prefix)))
		}
		cmps = append(cmps, g.keys...)
	}
	return cmps
}

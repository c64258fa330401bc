package cluster

// The transaction of Store: reads recorded with their revisions, writes
// buffered, both checked and applied in one etcd Txn at commit.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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

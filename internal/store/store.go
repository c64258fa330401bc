// Package store keeps vedetta's durable state (alarms, the notification
// outbox) behind one small transactional key-value interface. bbolt backs
// it today; the interface is narrow on purpose so that a replicated backend
// (embedded etcd, for three nodes in three zones) can replace it.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Buckets in use.
const (
	Alarms   = "alarms"   // alarm state, by alarm id
	Outbox   = "outbox"   // deliveries, by idempotency key
	Notices  = "notices"  // per-alarm notification state (who was told, acks), by alarm id
	Groups   = "groups"   // events waiting for their group's flush
	Silences = "silences" // run-time silences, by id
	Meta     = "meta"
)

// Store is a transactional key-value store with named buckets.
type Store interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction: all of it is kept, or
	// none of it (fn returned an error, or the process died).
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. Values passed to fn or returned are only valid
// inside the transaction; copy what you keep.
type Tx interface {
	Get(bucket, key string) []byte
	Put(bucket, key string, value []byte) error
	Delete(bucket, key string) error
	ForEach(bucket string, fn func(key string, value []byte) error) error
}

// Bolt is the single-node backend.
type Bolt struct {
	db *bolt.DB
}

// OpenBolt opens (creating if needed) dir/vedetta.db. A second daemon on the
// same state dir gets a clear error instead of waiting for the lock.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, "vedetta.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is locked: is another vedetta running on this state dir?", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{Alarms, Outbox, Notices, Groups, Silences, Meta} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Bolt{db: db}, nil
}

// View implements Store.
func (b *Bolt) View(fn func(Tx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update implements Store.
func (b *Bolt) Update(fn func(Tx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) bucket(name string) (*bolt.Bucket, error) {
	bk := t.tx.Bucket([]byte(name))
	if bk == nil {
		return nil, fmt.Errorf("store: no bucket %q", name)
	}
	return bk, nil
}

func (t boltTx) Get(bucket, key string) []byte {
	bk, err := t.bucket(bucket)
	if err != nil {
		return nil
	}
	return bk.Get([]byte(key))
}

func (t boltTx) Put(bucket, key string, value []byte) error {
	bk, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return bk.Put([]byte(key), value)
}

func (t boltTx) Delete(bucket, key string) error {
	bk, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return bk.Delete([]byte(key))
}

func (t boltTx) ForEach(bucket string, fn func(key string, value []byte) error) error {
	bk, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return bk.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

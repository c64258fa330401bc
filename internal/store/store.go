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
	"runtime/debug"
	"sync"
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
	// Overrides are on-call overrides made at run time, by id.
	Overrides = "oncall_overrides"
	// History keeps alarm transitions and notification outcomes, by time.
	History = "history"
	Meta    = "meta"
	// Inbox holds alarm changes and API commands that cluster members
	// hand to the dispatcher (unused on a single node).
	Inbox = "inbox"
	// Replay keeps the alarm changes a cluster member recorded on its own
	// while the cluster had no quorum, to be written there when it is back.
	Replay = "replay"
)

var buckets = []string{Alarms, Outbox, Notices, Groups, Silences, Overrides, History, Meta, Inbox, Replay}

// Store is a transactional key-value store with named buckets.
type Store interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction: all of it is kept, or
	// none of it (fn returned an error, the commit failed, or the process
	// died).
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
	// OnCommit runs fn once the transaction is durably committed, and never
	// if it is not: the way for in-memory caches to follow the store, so
	// that a failed write (a full disk) leaves memory as it was.
	OnCommit(fn func())
}

// FileName is the state file inside the state dir.
const FileName = "vedetta.db"

// Loss says what state could not be read when the store was opened. The
// unreadable file is kept, renamed, for inspection; the store starts empty.
type Loss struct {
	Reason  string // what was wrong, for the StateLost alarm
	MovedTo string // where the unreadable file is now
}

// Bolt is the single-node backend.
type Bolt struct {
	path string
	loss *Loss

	// mu is held shared by every transaction and exclusively by Compact,
	// which swaps the file underneath.
	mu sync.RWMutex
	db *bolt.DB
}

// OpenBolt opens (creating if needed) dir/vedetta.db. A second daemon on the
// same state dir gets a clear error instead of waiting for the lock. A file
// that is empty, fails to open, or fails bbolt's consistency check is moved
// aside (vedetta.db.corrupt-<time>) and the store starts empty: Loss says
// so, and the daemon raises StateLost. Never a crash loop, never silent.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	b := &Bolt{path: filepath.Join(dir, FileName)}
	db, why, err := openChecked(b.path)
	if err != nil {
		return nil, err
	}
	if why != "" {
		moved := b.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(b.path, moved); err != nil {
			return nil, fmt.Errorf("%s is unreadable (%s) and cannot be moved aside: %w", b.path, why, err)
		}
		b.loss = &Loss{Reason: why, MovedTo: moved}
		if db, why, err = openChecked(b.path); err != nil {
			return nil, err
		}
		if why != "" {
			return nil, fmt.Errorf("%s: a new state file is unreadable too: %s", b.path, why)
		}
	}
	b.db = db
	return b, nil
}

// openChecked opens path and checks it. why is set (and db nil) when the
// file exists but cannot be trusted; err only for what moving the file
// aside would not cure (the lock, permissions).
func openChecked(path string) (db *bolt.DB, why string, err error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		// bbolt would silently initialise it: a truncated file would pass
		// for a first start and every firing alarm be notified again.
		return nil, "the state file was empty (truncated?)", nil
	}
	// bbolt reads the file through mmap: a page number the file does not
	// have is a memory fault, fatal for the whole process unless this
	// goroutine asks for a panic instead (FuzzOpenStateFile found one in
	// the freelist). A crash loop on a corrupt file would be silence.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, why, err = nil, fmt.Sprintf("bbolt panicked reading it: %v", r), nil
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, "", fmt.Errorf("%s is locked: is another vedetta running on this state dir?", path)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, "", fmt.Errorf("open %s: %w", path, err)
		}
		return nil, "cannot open it: " + err.Error(), nil
	}
	var problems []error
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			problems = append(problems, e)
		}
		return nil
	})
	if err == nil && len(problems) == 0 {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range buckets {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil || len(problems) > 0 {
		_ = db.Close()
		if len(problems) > 0 {
			err = problems[0]
			if len(problems) > 1 {
				err = fmt.Errorf("%w (and %d more problems)", problems[0], len(problems)-1)
			}
		}
		return nil, "consistency check failed: " + err.Error(), nil
	}
	return db, "", nil
}

// Loss reports the state lost at open, or nil.
func (b *Bolt) Loss() *Loss { return b.loss }

// Path is the state file.
func (b *Bolt) Path() string { return b.path }

// View implements Store.
func (b *Bolt) View(fn func(Tx) error) (err error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	defer recoverInto(&err)
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update implements Store.
func (b *Bolt) Update(fn func(Tx) error) (err error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	defer recoverInto(&err)
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// recoverInto turns a panic (bbolt reading a damaged page) into an error:
// bbolt rolls the transaction back on the way out, and the caller retries
// or reports, as for a full disk.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("store: panic in a transaction: %v", r)
	}
}

// Close implements Store.
func (b *Bolt) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.db.Close()
}

// Stats is the state file's size and how much of it is free pages.
type Stats struct {
	FileBytes int64 // size on disk
	FreeBytes int64 // free and pending pages, reclaimable by Compact
}

// Stats reports the file's size and free space.
func (b *Bolt) Stats() Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var s Stats
	if fi, err := os.Stat(b.path); err == nil {
		s.FileBytes = fi.Size()
	}
	st := b.db.Stats()
	s.FreeBytes = int64(st.FreePageN+st.PendingPageN) * int64(b.db.Info().PageSize)
	return s
}

// Compact rewrites the state file without its free pages: bbolt reuses
// freed pages but never gives them back, so a storm would leave the file
// at its peak size for ever. Transactions wait while it runs.
func (b *Bolt) Compact() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	tmp := b.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := bolt.Compact(dst, b.db, 4<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	dst.Close()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		os.Remove(tmp)
		err = fmt.Errorf("compact: %w", err)
	}
	// Reopen whichever file is in place now: the compacted one, or the
	// original if the rename failed.
	db, oerr := bolt.Open(b.path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if oerr != nil {
		return fmt.Errorf("compact: reopen: %w", oerr)
	}
	b.db = db
	return err
}

// KeepCopy writes a consistent copy of the state file next to it
// (vedetta.db.corrupt-<time>) for inspection, when records in it could
// not be decoded. It returns the copy's path.
func (b *Bolt) KeepCopy() (string, error) {
	to := b.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	err := b.View(func(tx Tx) error {
		f, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = tx.(boltTx).tx.WriteTo(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return to, err
}

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

func (t boltTx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

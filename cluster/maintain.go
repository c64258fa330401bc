package cluster

// Keeping the database within its quota: its size, the part in use, and
// the defragmentation that gives the rest back.

import (
	"context"
	"fmt"
)

// DBSize is the size of this member's backend file (the external
// cluster's first endpoint's), which the quota (2 GiB embedded) bounds:
// past it etcd refuses every write until defragmented.
func (e *Etcd) DBSize(ctx context.Context) (int64, error) {
	size, _, err := e.DBUse(ctx)
	return size, err
}

// DBUse is this member's database file size and the part of it in use
// (the rest is what a defragmentation gives back).
func (e *Etcd) DBUse(ctx context.Context) (size, inUse int64, err error) {
	s, err := e.Client.Status(ctx, e.local)
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: etcd status: %w", err)
	}
	return s.DbSize, s.DbSizeInUse, nil
}

// Quota is the embedded members' backend quota: past it etcd refuses
// writes (NOSPACE), so the daemon watches the size against it.
const Quota = quotaBytes

// Defragment gives this member's free pages back to the file system. It
// blocks the member's reads and writes while it runs, so only this one
// member is done (an external cluster's members are the operator's).
func (e *Etcd) Defragment(ctx context.Context) error {
	if _, err := e.Client.Defragment(ctx, e.local); err != nil {
		return fmt.Errorf("cluster: defragment: %w", err)
	}
	return nil
}

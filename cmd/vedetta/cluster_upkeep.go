package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/cluster"
)

// A member's upkeep of its etcd: the database against its quota.

// maintain watches this member's etcd database against its quota and
// gives back the space compaction freed: etcd compacts history by itself
// (hourly) but only a defragmentation shrinks the file, and past the
// quota it refuses every write.
func (d *daemon) maintain(ctx context.Context) {
	c := d.cl
	var size, inUse atomic.Int64
	d.m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_db_bytes", Help: "Size of this member's etcd database file.",
		}, func() float64 { return float64(size.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vedetta_cluster_db_quota_bytes", Help: "The etcd backend quota: past it the cluster refuses writes.",
		}, func() float64 { return float64(cluster.Quota) }),
	)
	check := func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, u, err := c.etcd.DBUse(cctx)
		if err != nil {
			return
		}
		size.Store(s)
		inUse.Store(u)
		if s > cluster.Quota*8/10 {
			c.log.Error("the cluster's database is near its quota: past it every write is refused", "bytes", s, "quota", cluster.Quota)
		}
		if s > 64<<20 && u*2 < s {
			start := time.Now()
			if err := c.etcd.Defragment(cctx); err != nil {
				c.log.Warn("defragmentation failed", "err", err)
				return
			}
			c.log.Info("etcd database defragmented", "before_bytes", s, "in_use_bytes", u, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	check()
	every(ctx, 10*time.Minute, check)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readBufSize bounds a request; larger datagrams are truncated and ignored.
const readBufSize = 8192

// sim is a running simulator: its agents and their sockets.
type sim struct {
	cfg      config
	agents   []*agent
	conns    []*net.UDPConn
	byComm   map[string]*agent // --single-port: community → agent
	wg       sync.WaitGroup
	handlers sync.Pool
	dropped  atomic.Uint64 // requests to dead agents, wrong communities, bad packets

	live      map[string]*liveRec // recording name → its live table (admin.go)
	adminMu   sync.Mutex          // serialises changes of the overrides
	adminAddr net.Addr            // where --admin listens (nil: off)
	adminWG   *sync.WaitGroup     // the admin server's goroutine
}

// newSim builds the agents (without opening sockets).
func newSim(cfg config, recs []*recording) (*sim, error) {
	s := &sim{cfg: cfg}
	s.handlers.New = func() any { return newHandler(cfg.maxMsg) }
	order, err := mixOrder(cfg, recs)
	if err != nil {
		return nil, err
	}
	n := cfg.agents
	if cfg.singlePort {
		n = len(recs)
		order = recs
	}
	modes := pickModes(n, cfg.dead, cfg.slow, cfg.seed)
	rates := rateFactors(n, cfg.seed)
	now := time.Now()
	for i := 0; i < n; i++ {
		a := &agent{index: i, port: cfg.basePort + i, community: cfg.community,
			rec: order[i%len(order)], mode: modes[i], rate: cfg.counterRate * rates[i], start: now}
		if cfg.singlePort {
			a.port, a.community = cfg.basePort, a.rec.name
		}
		s.agents = append(s.agents, a)
	}
	s.initLive()
	if cfg.singlePort {
		s.byComm = map[string]*agent{}
		for _, a := range s.agents {
			if _, dup := s.byComm[a.community]; dup {
				return nil, fmt.Errorf("--single-port: two recordings named %q", a.community)
			}
			s.byComm[a.community] = a
		}
	}
	return s, nil
}

// mixOrder expands --mix into the round-robin sequence of recordings.
func mixOrder(cfg config, recs []*recording) ([]*recording, error) {
	if len(cfg.mix) == 0 {
		return recs, nil
	}
	byName := map[string]*recording{}
	for _, r := range recs {
		byName[r.name] = r
	}
	var out []*recording
	for _, m := range cfg.mix {
		r, ok := byName[m.name]
		if !ok {
			return nil, fmt.Errorf("--mix: no device named %q", m.name)
		}
		for k := 0; k < m.weight; k++ {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--mix: all weights are zero")
	}
	return out, nil
}

// start raises the open-file limit, opens the sockets and starts serving.
func (s *sim) start(ctx context.Context) error {
	ip, err := netip.ParseAddr(s.cfg.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	need := 64
	if !s.cfg.singlePort {
		need += len(s.agents)
	}
	if err := raiseFileLimit(uint64(need)); err != nil {
		return err
	}
	open := func(port int) (*net.UDPConn, error) {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, err
		}
		s.conns = append(s.conns, c)
		return c, nil
	}
	if s.cfg.singlePort {
		c, err := open(s.cfg.basePort)
		if err != nil {
			s.close()
			return err
		}
		// One socket: several readers so it uses every core.
		for k := 0; k < runtime.GOMAXPROCS(0); k++ {
			s.wg.Add(1)
			go s.serve(ctx, c, nil)
		}
	} else {
		for _, a := range s.agents {
			if a.port > 65535 {
				s.close()
				return fmt.Errorf("agent %d: port %d out of range (lower --base-port or --agents)", a.index, a.port)
			}
			c, err := open(a.port)
			if err != nil {
				s.close()
				return fmt.Errorf("agent %d: %w", a.index, err)
			}
			s.wg.Add(1)
			go s.serve(ctx, c, a)
		}
	}
	go func() { <-ctx.Done(); s.close() }()
	return nil
}

// close closes every socket; the serving goroutines then return.
func (s *sim) close() {
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// wait blocks until every serving goroutine returned.
func (s *sim) wait() { s.wg.Wait() }

// serve reads requests on c for agent a (nil: pick by community).
func (s *sim) serve(ctx context.Context, c *net.UDPConn, a *agent) {
	defer s.wg.Done()
	buf := make([]byte, readBufSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			slog.Warn("read", "err", err)
			continue
		}
		if n == len(buf) {
			s.dropped.Add(1) // truncated: too large a request
			continue
		}
		s.handle(c, a, buf[:n], from)
	}
}

// handle answers one datagram.
func (s *sim) handle(c *net.UDPConn, a *agent, msg []byte, from netip.AddrPort) {
	h := s.handlers.Get().(*handler)
	defer s.handlers.Put(h)
	if a == nil {
		q, err := decodeRequest(msg)
		if err != nil {
			s.dropped.Add(1)
			return
		}
		a = s.byComm[string(q.community)]
	}
	if a == nil || a.mode == dead {
		s.dropped.Add(1)
		return
	}
	resp := h.handle(a, msg)
	if resp == nil {
		s.dropped.Add(1)
		return
	}
	a.served.Add(1)
	if a.mode == slow {
		b := append([]byte(nil), resp...)
		time.AfterFunc(s.cfg.slowDelay, func() { _, _ = c.WriteToUDPAddrPort(b, from) })
		return
	}
	if _, err := c.WriteToUDPAddrPort(resp, from); err != nil && !errors.Is(err, net.ErrClosed) {
		slog.Debug("write", "err", err)
	}
}

// served is the total number of requests answered.
func (s *sim) served() uint64 {
	var n uint64
	for _, a := range s.agents {
		n += a.served.Load()
	}
	return n
}

// reportStats logs the request rate every interval until ctx ends.
func (s *sim) reportStats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := s.served(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := s.served()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			slog.Info("stats", "requests_per_s", fmt.Sprintf("%.0f", rate), "served_total", n,
				"dropped_total", s.dropped.Load())
			last, lastAt = n, now
		}
	}
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit and checks
// that need descriptors fit.
func raiseFileLimit(need uint64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			slog.Warn("cannot raise the open-file limit", "err", err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	if rl.Cur < need {
		return fmt.Errorf("open-file limit %d is below the %d sockets needed: raise it (ulimit -Hn / LimitNOFILE=) or use --single-port", rl.Cur, need)
	}
	return nil
}

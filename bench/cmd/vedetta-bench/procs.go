package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clkTck is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on
// every Linux architecture Go supports).
const clkTck = 100

// proc is a child process in its own process group: stop() (or the
// registry's stopAll at exit) kills the whole group.
type proc struct {
	name  string
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}
	err   error // what Wait returned, once done is closed
	mu    sync.Mutex
	out   bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 4<<20 { // keep the first 4 MiB: enough to report a failure
		p.out.Write(b)
	}
	return len(b), nil
}

// output is what the process printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// startProc starts name args with its own process group; the group is
// killed when ctx ends (every child of the benchmark gets a deadline that
// way) or at stop.
func startProc(ctx context.Context, dir string, env []string, name string, args ...string) (*proc, error) {
	p := &proc{name: filepath.Base(name), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.start = time.Now()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
		forget(p)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.stop()
		case <-p.done:
		}
	}()
	slog.Debug("started", "proc", p.name, "pid", p.cmd.Process.Pid, "args", strings.Join(args, " "))
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the group, SIGKILL after 5 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// forget drops a finished process from the list stopAll walks.
func forget(p *proc) {
	procsMu.Lock()
	defer procsMu.Unlock()
	for i, q := range procs {
		if q == p {
			procs = append(procs[:i], procs[i+1:]...)
			return
		}
	}
}

// stopAll stops every child still running (called at exit, and on a signal).
func stopAll() {
	procsMu.Lock()
	ps := procs
	procs = nil
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// cpuSeconds reads utime+stime of a live process from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 { // fields 14 and 15 of stat are f[11], f[12] here
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed stat times")
	}
	return float64(ut+st) / clkTck, nil
}

// memKB reads VmHWM (peak) and VmRSS from /proc/<pid>/status, in MB.
func memMB(pid int) (hwm, rss float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = v / 1024
		case "VmRSS:":
			rss = v / 1024
		}
	}
	return hwm, rss
}

// runResult is a finished command: its output and its resource usage.
type runResult struct {
	out       string
	cpu       float64 // user+system seconds (rusage of the process)
	maxRSSMB  float64
	wall      time.Duration
	exitError error
}

// runCmd runs a command to completion with a timeout (its process group is
// killed when the timeout passes).
func runCmd(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) runResult {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := startProc(cctx, dir, env, name, args...)
	if err != nil {
		return runResult{exitError: err}
	}
	<-p.done
	r := runResult{out: p.output(), wall: time.Since(p.start), exitError: p.err}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = tv(ru.Utime) + tv(ru.Stime)
		r.maxRSSMB = float64(ru.Maxrss) / 1024
	}
	if cctx.Err() != nil && ctx.Err() == nil {
		r.exitError = fmt.Errorf("%s: timed out after %v", filepath.Base(name), timeout)
	}
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPRange finds n consecutive free UDP ports on 127.0.0.1 (for the
// simulator's --base-port), trying a few bases: first below the kernel's
// ephemeral range (where the daemon's and the peers' own sockets take
// ports, and 20,000 agents from 21000 on could not fit), then above 21000.
func freeUDPRange(n int) (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	var bases []int
	for base := 1100; base+n <= low; base += 997 {
		bases = append(bases, base)
	}
	for base := 21000; base+n < 60000; base += 997 {
		bases = append(bases, base)
	}
	for _, base := range bases {
		ok := true
		for i := 0; i < n && ok; i++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free UDP ports", n)
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// cgroupShare of the cgroup's memory.max becomes the soft limit: the rest
// is for what the Go runtime does not count (stacks of C code, the page
// cache of the state file) and for the GC to reach the limit in time.
const cgroupShare = 0.8

// setMemoryLimit sets the Go soft memory limit once at start, so that the
// heap is collected before RSS outgrows the live heap by GOGC's 100 %
// headroom: the GOMEMLIMIT environment variable wins (the runtime has
// applied it); else memory_limit from the config; else 80 % of the
// cgroup v2 memory.max of this process (the tightest along its path);
// else none. It logs what it chose.
func setMemoryLimit(log *slog.Logger, cfg *config.Config) {
	configured, _ := cfg.MemoryLimitBytes() // validated by config.Load
	limit, source, err := chooseMemoryLimit(os.Getenv("GOMEMLIMIT"), configured, func() (int64, string, error) {
		return cgroupMemoryMax("/proc/self/cgroup", "/sys/fs/cgroup")
	})
	if err != nil {
		log.Warn("cgroup memory.max unreadable: no soft memory limit from it", "err", err)
	}
	switch {
	case source == "GOMEMLIMIT":
		log.Info("soft memory limit", "limit_bytes", debug.SetMemoryLimit(-1), "source", "GOMEMLIMIT environment variable")
	case limit > 0:
		debug.SetMemoryLimit(limit)
		log.Info("soft memory limit", "limit_bytes", limit, "source", source)
	default:
		log.Info("no soft memory limit (set memory_limit or GOMEMLIMIT, or run in a cgroup with memory.max)")
	}
}

// chooseMemoryLimit is the decision of setMemoryLimit: env (GOMEMLIMIT)
// wins, then configured (bytes, 0: none), then cgroupShare of what cgroup
// returns (0: no limit). source says where the limit came from.
func chooseMemoryLimit(env string, configured int64, cgroup func() (int64, string, error)) (limit int64, source string, err error) {
	if strings.TrimSpace(env) != "" {
		return 0, "GOMEMLIMIT", nil
	}
	if configured > 0 {
		return configured, "memory_limit", nil
	}
	max, file, err := cgroup()
	if err != nil || max <= 0 {
		return 0, "", err
	}
	return int64(float64(max) * cgroupShare), fmt.Sprintf("%s × %.1f", file, cgroupShare), nil
}

// cgroupMemoryMax reads the cgroup v2 memory.max of this process: the
// smallest along its path from the cgroup up to the root (a slice's limit
// binds its services too). procCgroup is /proc/self/cgroup, root the
// cgroup2 mount. 0 without a limit ("max" everywhere, cgroup v1, no
// file); the file the limit came from.
func cgroupMemoryMax(procCgroup, root string) (int64, string, error) {
	data, err := os.ReadFile(procCgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	rel, ok := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, found := strings.CutPrefix(sc.Text(), "0::"); found { // the v2 unified hierarchy
			rel, ok = p, true
		}
	}
	if !ok {
		return 0, "", nil // cgroup v1 only
	}
	var best int64
	var from string
	for dir := filepath.Join(root, filepath.Clean("/"+rel)); ; dir = filepath.Dir(dir) {
		f := filepath.Join(dir, "memory.max")
		n, err := readMemoryMax(f)
		if err != nil {
			return 0, "", err
		}
		if n > 0 && (best == 0 || n < best) {
			best, from = n, f
		}
		if dir == root || len(dir) <= len(root) {
			break
		}
	}
	return best, from, nil
}

// readMemoryMax parses one memory.max: a byte count, or "max" (0). A
// missing file (the root cgroup has none) is no limit.
func readMemoryMax(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: want a byte count or \"max\", got %q", path, s)
	}
	return n, nil
}

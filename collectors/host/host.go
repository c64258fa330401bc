// Package host collects the health of the machine vedetta runs on, through
// gopsutil: CPU, load, memory, swap, filesystems, disk I/O, NICs (counters
// and link state), hwmon temperatures and uptime.
//
// Config (all optional):
//
//   - name: localhost
//     kind: host
//     interval: 15s
//     host:
//     root: /              # read /proc, /sys below another root (containers)
//     exclude_fstypes: [tmpfs, devtmpfs, overlay, squashfs]
//     exclude_mountpoints: "^/(proc|sys|dev|run)($|/)"
//     exclude_devices: "^(veth|docker|br-)"
//
// Metrics (every sample also has target and class):
//
//	host_cpus                                    logical CPUs
//	host_cpu_usage_ratio                         busy share since the last round (0..1)
//	host_load1, host_load5, host_load15
//	host_memory_total_bytes, host_memory_available_bytes, host_memory_used_ratio
//	host_swap_total_bytes, host_swap_used_ratio
//	host_filesystem_used_ratio{mountpoint,device,fstype}
//	host_filesystem_size_bytes, host_filesystem_free_bytes, host_filesystem_inodes_used_ratio
//	host_filesystem_readable{mountpoint}        0 when statfs hung past the deadline (a dead NFS server)
//	host_disk_read_bytes_total{device}, host_disk_written_bytes_total, host_disk_io_time_seconds_total
//	host_network_receive_bytes_total{device}, host_network_transmit_bytes_total
//	host_network_receive_errors_total, host_network_transmit_errors_total
//	host_network_receive_drops_total, host_network_transmit_drops_total
//	host_network_admin_up{device}, host_network_up{device}   (IFF_UP; operstate/carrier)
//	host_temperature_celsius{sensor}, host_temperature_high_celsius, host_temperature_critical_celsius
//	host_uptime_seconds
//
// Example rule: `host_network_admin_up == 1 && host_network_up == 0` for 30s.
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/sensors"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `host:` block of a target.
type Options struct {
	Root               string   `yaml:"root"`
	ExcludeFstypes     []string `yaml:"exclude_fstypes"`
	ExcludeMountpoints string   `yaml:"exclude_mountpoints"`
	ExcludeDevices     string   `yaml:"exclude_devices"`
}

var defaultFstypes = []string{"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
	"devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "autofs", "fusectl", "configfs",
	"hugetlbfs", "binfmt_misc", "nsfs", "rpc_pipefs", "ramfs", "efivarfs", "fuse.lxcfs", "fuse.portal"}

type collector struct {
	opts      Options
	fstypes   map[string]bool
	mountRE   *regexp.Regexp
	devRE     *regexp.Regexp
	env       common.EnvMap
	mu        sync.Mutex
	lastCPU   *cpu.TimesStat
	hungMount map[string]bool // statfs still running from an earlier round
}

// New is the host collector's factory.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var cfg struct {
		Host Options `yaml:"host"`
	}
	if err := decode(&cfg); err != nil {
		return nil, err
	}
	o := cfg.Host
	c := &collector{opts: o, fstypes: map[string]bool{}, hungMount: map[string]bool{}}
	fst := o.ExcludeFstypes
	if fst == nil {
		fst = defaultFstypes
	}
	for _, f := range fst {
		c.fstypes[f] = true
	}
	var err error
	mp := o.ExcludeMountpoints
	if mp == "" {
		mp = `^/(proc|sys|dev|run)($|/)`
	}
	if c.mountRE, err = regexp.Compile(mp); err != nil {
		return nil, config.Problem("host.exclude_mountpoints", "%v", err)
	}
	if o.ExcludeDevices != "" {
		if c.devRE, err = regexp.Compile(o.ExcludeDevices); err != nil {
			return nil, config.Problem("host.exclude_devices", "%v", err)
		}
	}
	if o.Root != "" && o.Root != "/" {
		c.env = common.EnvMap{
			common.HostProcEnvKey: filepath.Join(o.Root, "proc"),
			common.HostSysEnvKey:  filepath.Join(o.Root, "sys"),
			common.HostEtcEnvKey:  filepath.Join(o.Root, "etc"),
		}
	}
	return c, nil
}

func (c *collector) sysPath(parts ...string) string {
	base := os.Getenv("HOST_SYS")
	if v, ok := c.env[common.HostSysEnvKey]; ok {
		base = v
	}
	if base == "" {
		base = "/sys"
	}
	return filepath.Join(append([]string{base}, parts...)...)
}

// Collect reads every group; a group that fails is reported in the error
// but does not stop the others.
func (c *collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	if c.env != nil {
		ctx = context.WithValue(ctx, common.EnvKey, c.env)
	}
	var errs []error
	for _, g := range []struct {
		name string
		fn   func(context.Context, func(model.Sample)) error
	}{
		{"cpu", c.cpu}, {"load", c.load}, {"memory", c.memory}, {"filesystem", c.filesystems},
		{"disk", c.disks}, {"network", c.network}, {"temperature", c.temperatures}, {"uptime", c.uptime},
	} {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if err := g.fn(ctx, emit); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g.name, err))
		}
	}
	return errors.Join(errs...)
}

func gauge(emit func(model.Sample), name string, v float64, labels ...string) {
	emit(model.Sample{Name: name, Value: v, Labels: model.L(labels...)})
}

func (c *collector) cpu(ctx context.Context, emit func(model.Sample)) error {
	n, err := cpu.CountsWithContext(ctx, true)
	if err == nil {
		gauge(emit, "host_cpus", float64(n))
	}
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil || len(ts) == 0 {
		return err
	}
	cur := ts[0]
	c.mu.Lock()
	prev := c.lastCPU
	c.lastCPU = &cur
	c.mu.Unlock()
	// The first round has nothing to compare with: emit no usage rather
	// than a made-up number.
	if prev != nil {
		busy := func(t cpu.TimesStat) float64 {
			return t.User + t.Nice + t.System + t.Irq + t.Softirq + t.Steal
		}
		total := func(t cpu.TimesStat) float64 { return busy(t) + t.Idle + t.Iowait }
		dt := total(cur) - total(*prev)
		if dt > 0 {
			gauge(emit, "host_cpu_usage_ratio", clamp01((busy(cur)-busy(*prev))/dt))
		}
	}
	return nil
}

func clamp01(f float64) float64 { return max(0, min(1, f)) }

func (c *collector) load(ctx context.Context, emit func(model.Sample)) error {
	l, err := load.AvgWithContext(ctx)
	if err != nil {
		return err
	}
	gauge(emit, "host_load1", l.Load1)
	gauge(emit, "host_load5", l.Load5)
	gauge(emit, "host_load15", l.Load15)
	return nil
}

func (c *collector) memory(ctx context.Context, emit func(model.Sample)) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	gauge(emit, "host_memory_total_bytes", float64(vm.Total))
	gauge(emit, "host_memory_available_bytes", float64(vm.Available))
	if vm.Total > 0 {
		gauge(emit, "host_memory_used_ratio", 1-float64(vm.Available)/float64(vm.Total))
	}
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	gauge(emit, "host_swap_total_bytes", float64(sw.Total))
	if sw.Total > 0 {
		gauge(emit, "host_swap_used_ratio", float64(sw.Used)/float64(sw.Total))
	}
	return nil
}

func (c *collector) filesystems(ctx context.Context, emit func(model.Sample)) error {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if c.fstypes[p.Fstype] || c.mountRE.MatchString(p.Mountpoint) || seen[p.Mountpoint] {
			continue
		}
		seen[p.Mountpoint] = true
		u, ok := c.statfs(ctx, p.Mountpoint)
		if !ok {
			gauge(emit, "host_filesystem_readable", 0, "mountpoint", p.Mountpoint)
			continue
		}
		gauge(emit, "host_filesystem_readable", 1, "mountpoint", p.Mountpoint)
		if u == nil || u.Total == 0 {
			continue
		}
		ls := []string{"mountpoint", p.Mountpoint, "device", p.Device, "fstype", p.Fstype}
		// Used against what a non-root user can use, as df shows it.
		avail := float64(u.Used + u.Free)
		if avail > 0 {
			gauge(emit, "host_filesystem_used_ratio", float64(u.Used)/avail, ls...)
		}
		gauge(emit, "host_filesystem_size_bytes", float64(u.Total), ls...)
		gauge(emit, "host_filesystem_free_bytes", float64(u.Free), ls...)
		if u.InodesTotal > 0 {
			gauge(emit, "host_filesystem_inodes_used_ratio", float64(u.InodesUsed)/float64(u.InodesTotal), ls...)
		}
	}
	return nil
}

// statfs can hang forever on a dead NFS server and cannot be cancelled, so
// it runs aside; a mount still hung from an earlier round is not asked again.
func (c *collector) statfs(ctx context.Context, mount string) (*disk.UsageStat, bool) {
	c.mu.Lock()
	if c.hungMount[mount] {
		c.mu.Unlock()
		return nil, false
	}
	c.mu.Unlock()
	type res struct {
		u   *disk.UsageStat
		err error
	}
	ch := make(chan res, 1)
	go func() {
		u, err := disk.UsageWithContext(ctx, mount)
		ch <- res{u, err}
		c.mu.Lock()
		delete(c.hungMount, mount)
		c.mu.Unlock()
	}()
	select {
	case r := <-ch:
		return r.u, r.err == nil
	case <-ctx.Done():
		c.mu.Lock()
		c.hungMount[mount] = true
		c.mu.Unlock()
		return nil, false
	}
}

func (c *collector) disks(ctx context.Context, emit func(model.Sample)) error {
	io, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return err
	}
	for name, s := range io {
		gauge(emit, "host_disk_read_bytes_total", float64(s.ReadBytes), "device", name)
		gauge(emit, "host_disk_written_bytes_total", float64(s.WriteBytes), "device", name)
		gauge(emit, "host_disk_io_time_seconds_total", float64(s.IoTime)/1000, "device", name)
	}
	return nil
}

func (c *collector) network(ctx context.Context, emit func(model.Sample)) error {
	io, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return err
	}
	for _, s := range io {
		if c.devRE != nil && c.devRE.MatchString(s.Name) {
			continue
		}
		d := s.Name
		gauge(emit, "host_network_receive_bytes_total", float64(s.BytesRecv), "device", d)
		gauge(emit, "host_network_transmit_bytes_total", float64(s.BytesSent), "device", d)
		gauge(emit, "host_network_receive_errors_total", float64(s.Errin), "device", d)
		gauge(emit, "host_network_transmit_errors_total", float64(s.Errout), "device", d)
		gauge(emit, "host_network_receive_drops_total", float64(s.Dropin), "device", d)
		gauge(emit, "host_network_transmit_drops_total", float64(s.Dropout), "device", d)
	}
	return c.links(emit)
}

// links reads link state from sysfs (so a test can fake it with HOST_SYS):
// admin state from IFF_UP in flags, link from operstate, falling back to
// carrier where the driver reports "unknown" (loopback, some virtual NICs).
func (c *collector) links(emit func(model.Sample)) error {
	dir := c.sysPath("class", "net")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if c.devRE != nil && c.devRE.MatchString(name) {
			continue
		}
		flags, err := readHex(filepath.Join(dir, name, "flags"))
		if err != nil {
			continue
		}
		admin := flags&1 == 1
		oper := readTrim(filepath.Join(dir, name, "operstate"))
		up := oper == "up"
		if oper == "unknown" && admin {
			up = readTrim(filepath.Join(dir, name, "carrier")) == "1"
		}
		gauge(emit, "host_network_admin_up", b2f(admin), "device", name)
		gauge(emit, "host_network_up", b2f(up), "device", name)
	}
	return nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readHex(p string) (uint64, error) {
	s := readTrim(p)
	if s == "" {
		return 0, errors.New("empty")
	}
	return strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) temperatures(ctx context.Context, emit func(model.Sample)) error {
	if p := c.sysPath(); p != "/sys" {
		// gopsutil reads HOST_SYS from the context's env map.
		env := common.EnvMap{common.HostSysEnvKey: p}
		for k, v := range c.env {
			env[k] = v
		}
		ctx = context.WithValue(ctx, common.EnvKey, env)
	}
	ts, err := sensors.TemperaturesWithContext(ctx)
	if err != nil && len(ts) == 0 {
		// Machines without sensors (VMs) answer with an error and no data:
		// that is not a failure of the host.
		var w *sensors.Warnings
		if errors.As(err, &w) {
			return nil
		}
		return err
	}
	for _, t := range ts {
		gauge(emit, "host_temperature_celsius", t.Temperature, "sensor", t.SensorKey)
		if t.High > 0 {
			gauge(emit, "host_temperature_high_celsius", t.High, "sensor", t.SensorKey)
		}
		if t.Critical > 0 {
			gauge(emit, "host_temperature_critical_celsius", t.Critical, "sensor", t.SensorKey)
		}
	}
	return nil
}

func (c *collector) uptime(ctx context.Context, emit func(model.Sample)) error {
	up, err := host.UptimeWithContext(ctx)
	if err != nil {
		return err
	}
	gauge(emit, "host_uptime_seconds", float64(up))
	return nil
}

package testpeer

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// IPMISim is OpenIPMI's ipmi_sim serving one simulated BMC over RMCP and
// RMCP+ on a free 127.0.0.1 UDP port (RIG.md section 11), with its console
// on a free TCP port to change sensors while it runs.
//
// The BMC has the sensors of a small two-PSU server, numbered:
//
//	1 Inlet Temp     Temperature  threshold, raw = °C, upper nc/cr/nr 35/42/50
//	2 CPU1 Temp      Temperature  threshold, raw = °C, no thresholds
//	3 PSU1 Status    Power Supply discrete (0x6f): presence detected
//	4 PSU2 Status    Power Supply discrete (0x6f): presence detected
//	5 PS Redundancy  Power Unit   redundancy (0x0b): fully redundant
//	6 Fan1           Fan          threshold, raw × 60 = RPM, lower nc/cr 1200/600
//	7 Fan2           Fan          threshold, raw × 60 = RPM, lower nc/cr 1200/600
//	8 Sys 12V        Voltage      threshold, raw × 0.06 = V
//	9 PSU3 Status    Power Supply discrete: an SDR but no sensor ("No Reading"), as an empty slot
//	10 Exhaust Temp  Temperature  threshold: an SDR but no sensor ("No Reading")
//
// Names are mixed case on purpose: sdrcomp packs an all-capitals id string
// ("FAN1") as 6-bit ASCII, which ipmitool 1.8.19 prints as garbage.
type IPMISim struct {
	Addr     string // 127.0.0.1:port (UDP)
	Console  string // 127.0.0.1:port (TCP)
	User     string
	Password string
	Dir      string // state, configs and logs
	proc     *Proc
}

// A second BMC user, limited to the User privilege.
const (
	SimReadOnlyUser     = "monitor"
	SimReadOnlyPassword = "monitor-pass"
)

// Sensor numbers of the simulated BMC.
const (
	SimInletTemp     = 1
	SimCPUTemp       = 2
	SimPSU1          = 3
	SimPSU2          = 4
	SimPSRedundancy  = 5
	SimFan1          = 6
	SimFan2          = 7
	SimVoltage12V    = 8
	SimPSU3Empty     = 9
	SimExhaustNone   = 10
	simFanRPMPerUnit = 60
)

// StartIPMISim starts ipmi_sim with user admin / a password (and
// SimReadOnlyUser), stopped when the test ends.
func StartIPMISim(t testing.TB) *IPMISim {
	t.Helper()
	bin := Need(t, "ipmi_sim")
	sdrcomp := Need(t, "sdrcomp")
	Need(t, "ipmitool") // the collector's client: without it the test cannot pass
	dir := t.TempDir()
	s := &IPMISim{
		Addr:     Addr(FreeUDPPort(t)),
		Console:  Addr(FreePort(t)),
		User:     "admin",
		Password: "s3cret-bmc",
		Dir:      dir,
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	chost, cport, _ := net.SplitHostPort(s.Console)
	lan := fmt.Sprintf(`name "vbmc"
set_working_mc 0x20
  startlan 1
    addr %s %s
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  console %s %s
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
  user 3 true "%s" "%s" user 10 none md2 md5 straight
`, host, port, chost, cport, s.User, s.Password, SimReadOnlyUser, SimReadOnlyPassword)
	state := filepath.Join(dir, "state")
	sdrDir := filepath.Join(state, "ipmi_sim", "vbmc")
	if err := os.MkdirAll(sdrDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"lan.conf": lan, "bmc.sdrs": simSDRs(), "sim.emu": simEmu} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// ipmi_sim's persistence reads the SDRs from STATE/ipmi_sim/<name>/sdr.<mc>.main.
	if out, err := exec.Command(sdrcomp, "-o", filepath.Join(sdrDir, "sdr.20.main"), filepath.Join(dir, "bmc.sdrs")).CombinedOutput(); err != nil {
		t.Fatalf("sdrcomp: %v\n%s", err, out)
	}
	s.proc = Start(t, nil, bin, "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", state, "-n")
	// Ready when the LAN side answers an RMCP presence ping and the
	// console greets (a dial that connected to itself, which Linux allows
	// on a free loopback port, does not count).
	WaitFor(t, 15*time.Second, "ipmi_sim's LAN and console", func() bool {
		if s.proc.Exited() {
			t.Fatalf("ipmi_sim exited:\n%s", s.proc.Output())
		}
		if !rmcpPing(s.Addr) {
			return false
		}
		c, err := net.DialTimeout("tcp", s.Console, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		// Read the prompt before closing: ipmi_sim dies of SIGPIPE when it
		// greets a console that has already gone.
		_, err = readPrompt(c)
		return err == nil && c.LocalAddr().String() != c.RemoteAddr().String()
	})
	return s
}

// Kill stops the simulator at once (a BMC that stops answering).
func (s *IPMISim) Kill(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-s.proc.Cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.proc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("ipmi_sim did not die on SIGKILL")
	}
}

// Run sends console commands (ipmi_sim_cmd(5)) one by one and fails the
// test when one answers with an error ("**...").
func (s *IPMISim) Run(t testing.TB, cmds ...string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Console, 3*time.Second)
	if err != nil {
		t.Fatalf("ipmi_sim console: %v", err)
	}
	defer c.Close()
	// The console is a telnet-style line protocol: option bytes, then "> ".
	if _, err := readPrompt(c); err != nil {
		t.Fatalf("ipmi_sim console: %v", err)
	}
	for _, cmd := range cmds {
		if _, err := c.Write([]byte(cmd + "\n")); err != nil {
			t.Fatalf("ipmi_sim console %q: %v", cmd, err)
		}
		out, err := readPrompt(c)
		if err != nil {
			t.Fatalf("ipmi_sim console %q: %v", cmd, err)
		}
		if strings.Contains(out, "**") {
			t.Fatalf("ipmi_sim console %q: %s", cmd, strings.TrimSpace(out))
		}
	}
}

// rmcpPing sends an ASF presence ping (RMCP class 6) and waits a moment
// for the pong.
func rmcpPing(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte{0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x01, 0x00, 0x00}); err != nil {
		return false
	}
	b := make([]byte, 64)
	n, err := c.Read(b)
	return err == nil && n >= 9 && b[8] == 0x40 // presence pong
}

func readPrompt(c net.Conn) (string, error) {
	var buf bytes.Buffer
	b := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for !bytes.HasSuffix(buf.Bytes(), []byte("> ")) {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			return buf.String(), fmt.Errorf("no prompt (%v) after %q", err, buf.String())
		}
	}
	return buf.String(), nil
}

// SetPSU sets a Power Supply sensor (SimPSU1, SimPSU2) to present and ok,
// or present with "Failure detected" (offset 1), asserting an event.
func (s *IPMISim) SetPSU(t testing.TB, sensor int, failed bool) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sensor_set_bit 0x20 0 %d 1 %d 1", sensor, b2i(failed)))
}

// SetPSUState sets one state offset of a Power Supply sensor (0 presence,
// 1 failure, 2 predictive failure, 3 AC lost, ..., 7 inactive).
func (s *IPMISim) SetPSUState(t testing.TB, sensor, offset int, on bool) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sensor_set_bit 0x20 0 %d %d %d 1", sensor, offset, b2i(on)))
}

// SetRedundancy sets the PS Redundancy sensor to one state of the generic
// redundancy reading type (0 fully redundant, 1 redundancy lost, 2
// degraded, ...).
func (s *IPMISim) SetRedundancy(t testing.TB, offset int) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sensor_set_bit_clr_rest 0x20 0 %d %d 1", SimPSRedundancy, offset))
}

// SetTemperature sets a temperature sensor's reading in °C (0..255).
func (s *IPMISim) SetTemperature(t testing.TB, sensor, celsius int) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sensor_set_value 0x20 0 %d %d 1", sensor, celsius))
}

// SetFanRPM sets a fan's reading (rounded down to a multiple of 60 RPM).
func (s *IPMISim) SetFanRPM(t testing.TB, sensor, rpm int) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sensor_set_value 0x20 0 %d %d 1", sensor, rpm/simFanRPMPerUnit))
}

// AddSELEntry appends a system event record to the SEL ("Power Supply
// #sensor | Failure detected | Asserted").
func (s *IPMISim) AddSELEntry(t testing.TB, sensor int) {
	t.Helper()
	s.Run(t, fmt.Sprintf("sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x08 %#02x 0x6f 0x01 0xff 0xff", sensor))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// simEmu creates the sensors and their starting values (ipmi_sim_cmd(5)).
const simEmu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 1 0x01 0x01
sensor_set_threshold 0x20 0 1 settable 111000 50 42 35 0 0 0
sensor_set_value 0x20 0 1 24 0
sensor_add 0x20 0 2 0x01 0x01
sensor_set_value 0x20 0 2 45 0
sensor_add 0x20 0 3 0x08 0x6f
sensor_set_bit_clr_rest 0x20 0 3 0 0
sensor_add 0x20 0 4 0x08 0x6f
sensor_set_bit_clr_rest 0x20 0 4 0 0
sensor_add 0x20 0 5 0x09 0x0b
sensor_set_bit_clr_rest 0x20 0 5 0 0
sensor_add 0x20 0 6 0x04 0x01
sensor_set_threshold 0x20 0 6 settable 000011 0 0 0 0 10 20
sensor_set_value 0x20 0 6 80 0
sensor_add 0x20 0 7 0x04 0x01
sensor_set_threshold 0x20 0 7 settable 000011 0 0 0 0 10 20
sensor_set_value 0x20 0 7 82 0
sensor_add 0x20 0 8 0x02 0x01
sensor_set_value 0x20 0 8 200 0
mc_enable 0x20
`

// simSDRs are the sensor data records, compiled by sdrcomp.
func simSDRs() string {
	var b strings.Builder
	sdr := func(typ, num int, entity string, inst int, stype string, reading string, name string, analog string) {
		fmt.Fprintf(&b, `sdr type %d
  sensor_owner_id 0x20
  channel_number 0
  sensor_owner_lun 0
  sensor_number %d
  entity_id %s
  entity_instance %d
  init_scanning true
  init_events true
  init_sensor_type true
  default_event_gen_on true
  default_sensor_scan_on true
  sensor_auto_rearm true
  sensor_type %s
  event_reading_type_code %s
  id_string "%s"
%sendsdr
`, typ, num, entity, inst, stype, reading, name, analog)
	}
	analog := func(unit string, m, rexp int) string {
		return fmt.Sprintf("  init_thresholds true\n  analog_data_format unsigned\n  base_unit %s\n  m %d\n  b 0\n  r_exp %d\n  b_exp 0\n", unit, m, rexp)
	}
	sdr(1, SimInletTemp, "system_board", 1, "Temperature", "1", "Inlet Temp", analog("degrees_C", 1, 0))
	sdr(1, SimCPUTemp, "processor", 1, "Temperature", "1", "CPU1 Temp", analog("degrees_C", 1, 0))
	sdr(2, SimPSU1, "power_supply", 1, "Power_Supply", "0x6f", "PSU1 Status", "")
	sdr(2, SimPSU2, "power_supply", 2, "Power_Supply", "0x6f", "PSU2 Status", "")
	sdr(2, SimPSRedundancy, "power_unit", 1, "Power_Unit", "0x0b", "PS Redundancy", "")
	sdr(1, SimFan1, "fan_cooling_device", 1, "Fan", "1", "Fan1", analog("RPM", simFanRPMPerUnit, 0))
	sdr(1, SimFan2, "fan_cooling_device", 2, "Fan", "1", "Fan2", analog("RPM", simFanRPMPerUnit, 0))
	sdr(1, SimVoltage12V, "system_board", 1, "Voltage", "1", "Sys 12V", analog("Volts", 6, -2))
	// Records without a sensor_add in simEmu: the BMC cannot read them.
	sdr(2, SimPSU3Empty, "power_supply", 3, "Power_Supply", "0x6f", "PSU3 Status", "")
	sdr(1, SimExhaustNone, "system_board", 2, "Temperature", "1", "Exhaust Temp", analog("degrees_C", 1, 0))
	return b.String()
}

package snmp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
)

// KnownTraps names the notifications vedetta understands (v2 trap OIDs;
// v1 traps are converted per RFC 3584). Every trap, known or not, is
// counted in snmp_trap_received_total{trap}; a trap from a configured
// target also triggers an immediate poll of it.
var KnownTraps = map[string]string{
	"1.3.6.1.2.1.33.2.0.1":       "upsTrapOnBattery",
	"1.3.6.1.2.1.33.2.0.2":       "upsTrapTestCompleted",
	"1.3.6.1.2.1.33.2.0.3":       "upsTrapAlarmEntryAdded",
	"1.3.6.1.2.1.33.2.0.4":       "upsTrapAlarmEntryRemoved",
	"1.3.6.1.6.3.1.1.5.1":        "coldStart",
	"1.3.6.1.6.3.1.1.5.2":        "warmStart",
	"1.3.6.1.6.3.1.1.5.3":        "linkDown",
	"1.3.6.1.6.3.1.1.5.4":        "linkUp",
	"1.3.6.1.4.1.318.0.1":        "apcCommunicationLost",
	"1.3.6.1.4.1.318.0.2":        "apcUpsOverload",
	"1.3.6.1.4.1.318.0.5":        "apcUpsOnBattery",
	"1.3.6.1.4.1.318.0.7":        "apcLowBattery",
	"1.3.6.1.4.1.318.0.8":        "apcCommunicationEstablished",
	"1.3.6.1.4.1.318.0.9":        "apcPowerRestored",
	"1.3.6.1.2.1.47.2.0.1":       "entConfigChange",
	"1.3.6.1.2.1.99.2.0.1":       "entSensorThresholdNotification",
	"1.3.6.1.4.1.9.9.91.2.0.1":   "ciscoEntSensorThresholdNotification",
	"1.3.6.1.4.1.9.9.13.3.0.1":   "ciscoEnvMonShutdownNotification",
	"1.3.6.1.4.1.9.9.13.3.0.3":   "ciscoEnvMonTemperatureNotification",
	"1.3.6.1.4.1.9.9.13.3.0.4":   "ciscoEnvMonFanNotification",
	"1.3.6.1.4.1.9.9.13.3.0.5":   "ciscoEnvMonRedundantSupplyNotification",
	"1.3.6.1.4.1.9.9.13.3.0.7":   "ciscoEnvMonTempStatusChangeNotif",
	"1.3.6.1.4.1.9.9.13.3.0.8":   "ciscoEnvMonFanStatusChangeNotif",
	"1.3.6.1.4.1.9.9.13.3.0.9":   "ciscoEnvMonSuppStatusChangeNotif",
	"1.3.6.1.4.1.13742.6.0.3":    "raritanOutletSensorStateChange",
	"1.3.6.1.4.1.41809.2.0.1":    "himoinsaAlarm",
	"1.3.6.1.4.1.534.1.11.4.1.0": "xupsOnBattery",
}

const (
	oidSnmpTrapOID       = "1.3.6.1.6.3.1.1.4.1.0"
	oidUsmStatsUnknownEI = ".1.3.6.1.6.3.15.1.1.4.0"
	// UnknownSender is the target of traps from a host no target has.
	UnknownSender = "snmp_traps_unknown_sender"
)

var rejectedTraps = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vedetta_snmp_traps_rejected_total",
	Help: "SNMP traps and informs dropped: unknown community or v3 user, bad auth, undecodable.",
}, []string{"reason"})

func init() {
	if err := prometheus.DefaultRegisterer.Register(rejectedTraps); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
}

// TrapReceiver listens for traps and informs on one UDP address.
type TrapReceiver struct {
	cfg       *config.Traps
	engineID  string
	conn      *net.UDPConn
	plain     *gosnmp.GoSNMP
	users     []*gosnmp.GoSNMP
	targets   map[string]string // sender IP -> target name
	ingest    func(collectors.Batch)
	trigger   func(string) bool
	log       *slog.Logger
	mu        sync.Mutex
	received  map[string]float64 // target \xff trap -> count
	rejected  map[string]float64 // reason -> count
	discovery uint32
}

// ValidateTraps checks a traps: block.
func ValidateTraps(c *config.Traps) error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: want host:port, got %q", c.Listen))
	}
	for i, u := range c.Users {
		a := Agent{Address: "127.0.0.1", Version: "3", User: u.User}
		if u.Auth != nil {
			a.Auth = &Auth{Protocol: u.Auth.Protocol, Passphrase: u.Auth.Passphrase}
		}
		if u.Priv != nil {
			a.Priv = &Priv{Protocol: u.Priv.Protocol, Passphrase: u.Priv.Passphrase}
		}
		if err := a.Validate(); err != nil {
			errs = append(errs, prefixErr(fmt.Sprintf("users[%d].", i), err))
		}
	}
	if c.EngineID != "" {
		if b, err := hex.DecodeString(strings.TrimPrefix(c.EngineID, "0x")); err != nil || len(b) < 5 || len(b) > 32 {
			errs = append(errs, fmt.Errorf("engine_id: want 5 to 32 bytes in hex, got %q", c.EngineID))
		}
	}
	return errors.Join(errs...)
}

// NewTrapReceiver binds the listen address. targets maps sender addresses
// (hosts or IPs of the targets' snmp.address) to target names.
func NewTrapReceiver(c *config.Traps, targets map[string]string, ingest func(collectors.Batch), trigger func(string) bool, log *slog.Logger) (*TrapReceiver, error) {
	if err := ValidateTraps(c); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	engineID := []byte{0x80, 0x00, 0x1f, 0x88, 0x04, 'v', 'e', 'd', 'e', 't', 't', 'a'}
	if c.EngineID != "" {
		engineID, _ = hex.DecodeString(strings.TrimPrefix(c.EngineID, "0x"))
	}
	r := &TrapReceiver{cfg: c, engineID: string(engineID), targets: map[string]string{}, ingest: ingest, trigger: trigger,
		log: log, received: map[string]float64{}, rejected: map[string]float64{},
		plain: &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}}
	for host, name := range targets {
		if ip := net.ParseIP(host); ip != nil {
			r.targets[ip.String()] = name
			continue
		}
		if ips, err := net.LookupHost(host); err == nil {
			for _, ip := range ips {
				r.targets[ip] = name
			}
		} else {
			log.Warn("traps: cannot resolve a target's host; its traps will count as unknown", "target", name, "host", host, "err", err)
		}
	}
	for _, u := range c.Users {
		a := Agent{Version: "3", User: u.User}
		if u.Auth != nil {
			a.Auth = &Auth{Protocol: u.Auth.Protocol, Passphrase: u.Auth.Passphrase}
		}
		if u.Priv != nil {
			a.Priv = &Priv{Protocol: u.Priv.Protocol, Passphrase: u.Priv.Passphrase}
		}
		usm, flags := a.usm()
		usm.AuthoritativeEngineID = r.engineID
		r.users = append(r.users, &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
			MsgFlags: flags, SecurityParameters: usm, Logger: gosnmp.NewLogger(nil)})
	}
	addr, err := net.ResolveUDPAddr("udp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("traps: listen %s: %w", c.Listen, err)
	}
	if r.conn, err = net.ListenUDP("udp", addr); err != nil {
		return nil, fmt.Errorf("traps: listen %s: %w", c.Listen, err)
	}
	return r, nil
}

// Addr is the bound address (useful with port 0).
func (r *TrapReceiver) Addr() string { return r.conn.LocalAddr().String() }

// Run reads until ctx ends, then closes the socket.
func (r *TrapReceiver) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	defer r.conn.Close()
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Warn("traps: read failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.handle(append([]byte(nil), buf[:n]...), from)
	}
}

func (r *TrapReceiver) reject(reason string, from *net.UDPAddr, detail string) {
	rejectedTraps.WithLabelValues(reason).Inc()
	r.mu.Lock()
	r.rejected[reason]++
	r.mu.Unlock()
	r.log.Debug("traps: dropped", "from", from.IP.String(), "reason", reason, "detail", detail)
}

// Rejected returns how many traps were dropped for reason.
func (r *TrapReceiver) Rejected(reason string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected[reason]
}

func (r *TrapReceiver) handle(msg []byte, from *net.UDPAddr) {
	pkt, err := r.plain.UnmarshalTrap(msg, false)
	if err == nil && pkt.Version != gosnmp.Version3 {
		if !r.communityOK(pkt.Community) {
			r.reject("community", from, "")
			return
		}
		r.accept(pkt, from)
		return
	}
	if err != nil && !isV3(msg) {
		r.reject("malformed", from, err.Error())
		return
	}
	for _, dec := range r.users {
		p, err := dec.UnmarshalTrap(msg, false)
		if err != nil || p.Version != gosnmp.Version3 {
			continue
		}
		if discoveryRequest(p) {
			r.report(p, from)
			return
		}
		if sp, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); !ok || sp.UserName != dec.SecurityParameters.(*gosnmp.UsmSecurityParameters).UserName {
			continue
		}
		r.accept(p, from)
		return
	}
	if pkt != nil && discoveryRequest(pkt) && len(r.users) > 0 {
		r.report(pkt, from)
		return
	}
	r.reject("user", from, "unknown SNMPv3 user or wrong auth/priv")
}

// isV3 peeks at the version field of the message (SEQUENCE, INTEGER 3).
func isV3(msg []byte) bool {
	for i := 1; i+2 < len(msg) && i < 6; i++ {
		if msg[i] == 0x02 && msg[i+1] == 0x01 {
			return msg[i+2] == 0x03
		}
	}
	return false
}

func discoveryRequest(p *gosnmp.SnmpPacket) bool {
	if p.Version != gosnmp.Version3 || p.PDUType != gosnmp.GetRequest || len(p.Variables) != 0 {
		return false
	}
	sp, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	return ok && len(sp.AuthoritativeEngineID) < 5
}

// report answers an SNMPv3 engine discovery (an inform sender learning our
// engine ID), as RFC 3414 3.2.3b says.
func (r *TrapReceiver) report(p *gosnmp.SnmpPacket, from *net.UDPAddr) {
	sp, ok := p.SecurityParameters.Copy().(*gosnmp.UsmSecurityParameters)
	if !ok {
		return
	}
	r.mu.Lock()
	r.discovery++
	count := r.discovery
	r.mu.Unlock()
	sp.AuthoritativeEngineID = r.engineID
	p.PDUType = gosnmp.Report
	p.MsgFlags &= gosnmp.AuthPriv
	p.SecurityParameters = sp
	p.Variables = []gosnmp.SnmpPDU{{Name: oidUsmStatsUnknownEI, Type: gosnmp.Integer, Value: int(count)}}
	r.send(p, from)
}

func (r *TrapReceiver) send(p *gosnmp.SnmpPacket, to *net.UDPAddr) {
	b, err := p.MarshalMsg()
	if err != nil {
		r.log.Warn("traps: cannot encode an answer", "err", err)
		return
	}
	if _, err := r.conn.WriteToUDP(b, to); err != nil {
		r.log.Warn("traps: cannot answer", "to", to.String(), "err", err)
	}
}

func (r *TrapReceiver) communityOK(c string) bool {
	for _, s := range r.cfg.Communities {
		if s.Reveal() == c {
			return true
		}
	}
	return false
}

// trapOID is snmpTrapOID.0 (v2c/v3) or the RFC 3584 translation of a v1 trap.
func trapOID(p *gosnmp.SnmpPacket) string {
	if p.Version == gosnmp.Version1 {
		ent := trimOID(p.Enterprise)
		if p.GenericTrap >= 0 && p.GenericTrap < 6 {
			return "1.3.6.1.6.3.1.1.5." + strconv.Itoa(p.GenericTrap+1)
		}
		return ent + ".0." + strconv.Itoa(p.SpecificTrap)
	}
	for _, v := range p.Variables {
		if trimOID(v.Name) == oidSnmpTrapOID {
			return text(v)
		}
	}
	return ""
}

// TrapName is the known name of a trap OID, else the OID itself.
func TrapName(oid string) string {
	if n, ok := KnownTraps[oid]; ok {
		return n
	}
	return oid
}

func (r *TrapReceiver) accept(p *gosnmp.SnmpPacket, from *net.UDPAddr) {
	if p.PDUType == gosnmp.InformRequest {
		resp := *p
		resp.PDUType = gosnmp.GetResponse
		resp.Error, resp.ErrorIndex = gosnmp.NoError, 0
		r.send(&resp, from)
	}
	oid := trapOID(p)
	name := TrapName(oid)
	ip := from.IP.String()
	target, known := r.targets[ip]
	if !known {
		target = UnknownSender
	}
	r.mu.Lock()
	key := target + "\xff" + name + "\xff" + ip
	r.received[key]++
	n := r.received[key]
	r.mu.Unlock()
	now := time.Now()
	ls := collectors.L("trap", name, "trap_oid", oid)
	if !known {
		ls = ls.With("source", ip)
	}
	r.log.Info("traps: received", "from", ip, "target", target, "trap", name, "version", p.Version.String(), "inform", p.PDUType == gosnmp.InformRequest)
	if r.ingest != nil {
		r.ingest(collectors.Batch{Target: target, Start: now, Samples: []collectors.Sample{
			{Name: "snmp_trap_received_total", Labels: ls, Value: n, Time: now},
		}})
	}
	if known && r.trigger != nil {
		r.trigger(target)
	}
}

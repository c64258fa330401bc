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

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/model"
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

// MaxTrapSeries bounds the snmp_trap_received_total series of one target
// (each distinct trap OID, and for unknown senders each source, is one):
// past it, new ones are counted under trap="other", trap_oid="other" (and
// source="other"). The known traps of a configured target are always kept
// apart (there are len(KnownTraps) of them), so a flood of odd OIDs never
// hides an on-battery trap.
const MaxTrapSeries = 200

// Rejection reasons of vedetta_snmp_traps_rejected_total.
var rejectReasons = []string{"community", "user", "malformed"}

// TrapReceiver listens for traps and informs on one UDP address.
type TrapReceiver struct {
	cfg       *config.Traps
	engineID  string
	conn      *net.UDPConn
	plain     *gosnmp.GoSNMP
	users     []*gosnmp.GoSNMP
	targets   map[string]string // sender IP -> target name
	ingest    func(model.Batch)
	trigger   func(string) bool
	log       *slog.Logger
	rejectedM *prometheus.CounterVec
	mu        sync.Mutex
	received  map[string]float64 // target \xff trap OID \xff source -> count
	series    map[string]int     // target -> series counted against MaxTrapSeries
	capped    map[string]bool    // target -> reached MaxTrapSeries (warned once)
	rejected  map[string]float64 // reason -> count
	discovery uint32
}

// trapMetrics registers vedetta_snmp_traps_rejected_total on reg (the
// registry the daemon serves), or finds the one a previous receiver (the
// config generation before a reload) registered there. reg nil: counted
// but not exposed.
func trapMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vedetta_snmp_traps_rejected_total",
		Help: "SNMP traps and informs dropped: unknown community or v3 user, bad auth, undecodable.",
	}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			ex, ok := c, false
			if errors.As(err, &are) {
				ex, ok = are.ExistingCollector.(*prometheus.CounterVec)
			}
			if !ok {
				return nil, fmt.Errorf("traps: metrics: %w", err)
			}
			c = ex
		}
	}
	for _, r := range rejectReasons {
		c.WithLabelValues(r) // served as 0 from the start
	}
	return c, nil
}

// ValidateTraps checks a traps: block.
func ValidateTraps(c *config.Traps) error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, config.Problem("listen", "want host:port, got %q", c.Listen))
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
			errs = append(errs, config.Within(fmt.Sprintf("users[%d]", i), err))
		}
	}
	if c.EngineID != "" {
		if b, err := hex.DecodeString(strings.TrimPrefix(c.EngineID, "0x")); err != nil || len(b) < 5 || len(b) > 32 {
			errs = append(errs, config.Problem("engine_id", "want 5 to 32 bytes in hex, got %q", c.EngineID))
		}
	}
	return errors.Join(errs...)
}

// NewTrapReceiver binds the listen address. targets maps sender addresses
// (hosts or IPs of the targets' snmp.address) to target names. The
// receiver's own metrics are registered on reg (the daemon's served
// registry; nil: not exposed).
func NewTrapReceiver(c *config.Traps, targets map[string]string, ingest func(model.Batch), trigger func(string) bool, reg prometheus.Registerer, log *slog.Logger) (*TrapReceiver, error) {
	r, err := newTrapDecoder(c, targets, reg, log)
	if err != nil {
		return nil, err
	}
	r.ingest, r.trigger = ingest, trigger
	addr, err := net.ResolveUDPAddr("udp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("traps: listen %s: %w", c.Listen, err)
	}
	if r.conn, err = net.ListenUDP("udp", addr); err != nil {
		return nil, fmt.Errorf("traps: listen %s: %w", c.Listen, err)
	}
	return r, nil
}

// newTrapDecoder is a receiver without a socket: everything but the I/O.
func newTrapDecoder(c *config.Traps, targets map[string]string, reg prometheus.Registerer, log *slog.Logger) (*TrapReceiver, error) {
	if err := ValidateTraps(c); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rejectedM, err := trapMetrics(reg)
	if err != nil {
		return nil, err
	}
	engineID := []byte{0x80, 0x00, 0x1f, 0x88, 0x04, 'v', 'e', 'd', 'e', 't', 't', 'a'}
	if c.EngineID != "" {
		engineID, _ = hex.DecodeString(strings.TrimPrefix(c.EngineID, "0x"))
	}
	r := &TrapReceiver{cfg: c, engineID: string(engineID), targets: map[string]string{}, log: log, rejectedM: rejectedM,
		received: map[string]float64{}, series: map[string]int{}, capped: map[string]bool{}, rejected: map[string]float64{},
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
	r.rejectedM.WithLabelValues(reason).Inc()
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

// Verdicts of decode.
const (
	trapReject = iota
	trapAccept
	trapReport // an SNMPv3 engine discovery: answer with our engine ID
)

// verdict is what decode makes of one datagram.
type verdict struct {
	action int
	pkt    *gosnmp.SnmpPacket
	reason string // trapReject: community, user or malformed
	detail string
}

func (r *TrapReceiver) handle(msg []byte, from *net.UDPAddr) {
	v := r.decode(msg)
	switch v.action {
	case trapAccept:
		r.accept(v.pkt, from)
	case trapReport:
		r.report(v.pkt, from)
	default:
		if strings.HasPrefix(v.detail, "decoder panicked") {
			r.log.Warn("traps: gosnmp could not decode a packet (dropped as malformed)", "from", from.IP.String(), "err", v.detail)
		}
		r.reject(v.reason, from, v.detail)
	}
}

// decode checks one datagram as gosnmp decodes it: the community of v1/v2c,
// the user, auth and priv of v3. Nothing is sent or counted. A panic in the
// decoder (a malformed packet gosnmp does not survive) is a rejection, never
// the end of the listener.
func (r *TrapReceiver) decode(msg []byte) (v verdict) {
	defer func() {
		if p := recover(); p != nil {
			v = verdict{action: trapReject, reason: "malformed", detail: fmt.Sprintf("decoder panicked: %v", p)}
		}
	}()
	pkt, err := r.plain.UnmarshalTrap(msg, false)
	if err == nil && pkt.Version != gosnmp.Version3 {
		if !r.communityOK(pkt.Community) {
			return verdict{action: trapReject, reason: "community"}
		}
		return verdict{action: trapAccept, pkt: pkt}
	}
	if err != nil && !isV3(msg) {
		return verdict{action: trapReject, reason: "malformed", detail: err.Error()}
	}
	for _, dec := range r.users {
		p, err := dec.UnmarshalTrap(msg, false)
		if err != nil || p.Version != gosnmp.Version3 {
			continue
		}
		if discoveryRequest(p) {
			return verdict{action: trapReport, pkt: p}
		}
		if sp, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); !ok || sp.UserName != dec.SecurityParameters.(*gosnmp.UsmSecurityParameters).UserName {
			continue
		}
		return verdict{action: trapAccept, pkt: p}
	}
	if pkt != nil && discoveryRequest(pkt) && len(r.users) > 0 {
		return verdict{action: trapReport, pkt: pkt}
	}
	return verdict{action: trapReject, reason: "user", detail: "unknown SNMPv3 user or wrong auth/priv"}
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
	r.mu.Lock()
	r.discovery++
	count := r.discovery
	r.mu.Unlock()
	b, err := r.reportMsg(p, count)
	if err != nil {
		r.log.Warn("traps: cannot encode an answer", "err", err)
		return
	}
	r.send(b, from)
}

// reportMsg encodes the Report PDU answering discovery request p.
func (r *TrapReceiver) reportMsg(p *gosnmp.SnmpPacket, count uint32) (b []byte, err error) {
	defer recoverEncode(&err)
	sp, ok := p.SecurityParameters.Copy().(*gosnmp.UsmSecurityParameters)
	if !ok {
		return nil, errors.New("not a USM request")
	}
	rp := *p
	sp.AuthoritativeEngineID = r.engineID
	rp.PDUType = gosnmp.Report
	rp.MsgFlags &= gosnmp.AuthPriv
	rp.SecurityParameters = sp
	rp.Variables = []gosnmp.SnmpPDU{{Name: oidUsmStatsUnknownEI, Type: gosnmp.Integer, Value: int(count)}}
	return rp.MarshalMsg()
}

// informResponse encodes the Response PDU acknowledging inform p.
func informResponse(p *gosnmp.SnmpPacket) (b []byte, err error) {
	defer recoverEncode(&err)
	resp := *p
	resp.PDUType = gosnmp.GetResponse
	resp.Error, resp.ErrorIndex = gosnmp.NoError, 0
	return resp.MarshalMsg()
}

// recoverEncode turns a panic of gosnmp's encoder (fed what a sender put
// in its packet) into an error.
func recoverEncode(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("encoder panicked: %v", p)
	}
}

func (r *TrapReceiver) send(b []byte, to *net.UDPAddr) {
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
		if b, err := informResponse(p); err != nil {
			r.log.Warn("traps: cannot encode an answer", "err", err)
		} else {
			r.send(b, from)
		}
	}
	ip := from.IP.String()
	target, known, s := r.sample(p, ip)
	r.log.Info("traps: received", "from", ip, "target", target, "trap", s.Labels.Get("trap"), "version", p.Version.String(), "inform", p.PDUType == gosnmp.InformRequest)
	if r.ingest != nil {
		r.ingest(model.Batch{Target: target, Start: s.Time, Samples: []model.Sample{s}})
	}
	if known && r.trigger != nil {
		r.trigger(target)
	}
}

// sample counts an accepted trap from ip and returns its target and its
// snmp_trap_received_total sample (labels trap, trap_oid, and source for
// unknown senders), folding what is past MaxTrapSeries into "other".
func (r *TrapReceiver) sample(p *gosnmp.SnmpPacket, ip string) (target string, known bool, s model.Sample) {
	oid := trapOID(p)
	target, known = r.targets[ip]
	src := ""
	if !known {
		target, src = UnknownSender, ip
	}
	_, knownTrap := KnownTraps[oid]
	free := known && knownTrap
	r.mu.Lock()
	key := target + "\xff" + oid + "\xff" + src
	if _, seen := r.received[key]; !seen && !free {
		if r.series[target] >= MaxTrapSeries {
			oid = "other"
			if !known {
				src = "other"
			}
			key = target + "\xff" + oid + "\xff" + src
			if !r.capped[target] {
				r.capped[target] = true
				r.log.Warn("traps: too many distinct traps; further ones are counted as trap=\"other\"",
					"target", target, "max", MaxTrapSeries)
			}
		} else {
			r.series[target]++
		}
	}
	r.received[key]++
	n := r.received[key]
	r.mu.Unlock()
	name := TrapName(oid)
	ls := model.L("trap", name, "trap_oid", oid)
	if !known {
		ls = ls.With("source", src)
	}
	return target, known, model.Sample{Name: trapMetric, Labels: ls, Value: n, Time: time.Now()}
}

package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// oidOnBattery is PowerNet-MIB upsBasicOutputStatus.0: 2 onLine, 3 onBattery.
const oidOnBattery = "1.3.6.1.4.1.318.1.1.1.4.1.1.0"

// readSnmprec reads the varbinds of a .snmprec recording (OID|TAG|VALUE)
// that gosnmp can encode; variation modules and odd tags are skipped.
func readSnmprec(path string) ([]gosnmp.SnmpPDU, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []gosnmp.SnmpPDU
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 || strings.HasPrefix(parts[0], "#") {
			continue
		}
		oid, tag, val := parts[0], parts[1], parts[2]
		p := gosnmp.SnmpPDU{Name: "." + oid}
		u, uerr := strconv.ParseUint(val, 10, 64)
		switch tag {
		case "2":
			i, err := strconv.Atoi(val)
			if err != nil {
				continue
			}
			p.Type, p.Value = gosnmp.Integer, i
		case "4":
			p.Type, p.Value = gosnmp.OctetString, []byte(val)
		case "4x":
			b, err := hex.DecodeString(val)
			if err != nil {
				continue
			}
			p.Type, p.Value = gosnmp.OctetString, b
		case "6":
			p.Type, p.Value = gosnmp.ObjectIdentifier, "."+strings.TrimPrefix(val, ".")
		case "64":
			p.Type, p.Value = gosnmp.IPAddress, val
		case "65", "66", "67":
			if uerr != nil {
				continue
			}
			p.Type = map[string]gosnmp.Asn1BER{"65": gosnmp.Counter32, "66": gosnmp.Gauge32, "67": gosnmp.TimeTicks}[tag]
			p.Value = uint32(u)
			if tag != "67" {
				p.Value = uint(u)
			}
		case "70":
			if uerr != nil {
				continue
			}
			p.Type, p.Value = gosnmp.Counter64, u
		default:
			continue
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func trimOID(s string) string { return strings.TrimPrefix(s, ".") }

func compareOID(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseUint(as[i], 10, 64)
		y, _ := strconv.ParseUint(bs[i], 10, 64)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(as) - len(bs)
}

// upsAgent is a tiny SNMPv2c agent in this process serving a recording,
// whose upsBasicOutputStatus can be flipped: the UPS of the latency runs.
type upsAgent struct {
	conn      *net.UDPConn
	oids      []string
	vals      map[string]gosnmp.SnmpPDU
	onBattery atomic.Bool
	community string
}

func newUPSAgent(ip net.IP, pdus []gosnmp.SnmpPDU, community string) (*upsAgent, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, err
	}
	a := &upsAgent{conn: c, vals: map[string]gosnmp.SnmpPDU{}, community: community}
	for _, p := range pdus {
		o := trimOID(p.Name)
		if _, dup := a.vals[o]; !dup {
			a.oids = append(a.oids, o)
		}
		a.vals[o] = p
	}
	sort.Slice(a.oids, func(i, j int) bool { return compareOID(a.oids[i], a.oids[j]) < 0 })
	go a.serve()
	return a, nil
}

func (a *upsAgent) addr() string { return a.conn.LocalAddr().String() }
func (a *upsAgent) close()       { a.conn.Close() }

func (a *upsAgent) value(oid string) (gosnmp.SnmpPDU, bool) {
	p, ok := a.vals[oid]
	if ok && oid == oidOnBattery {
		v := 2
		if a.onBattery.Load() {
			v = 3
		}
		p.Value = v
	}
	return p, ok
}

func (a *upsAgent) next(oid string) (gosnmp.SnmpPDU, bool) {
	i := sort.Search(len(a.oids), func(i int) bool { return compareOID(a.oids[i], oid) > 0 })
	if i == len(a.oids) {
		return gosnmp.SnmpPDU{Name: "." + oid, Type: gosnmp.EndOfMibView}, false
	}
	return a.value(a.oids[i])
}

func (a *upsAgent) serve() {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	buf := make([]byte, 65535)
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil || req.Community != a.community {
			continue
		}
		var out []gosnmp.SnmpPDU
		switch req.PDUType {
		case gosnmp.GetRequest:
			for _, v := range req.Variables {
				p, ok := a.value(trimOID(v.Name))
				if !ok {
					p = gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject}
				}
				out = append(out, p)
			}
		case gosnmp.GetNextRequest:
			for _, v := range req.Variables {
				p, _ := a.next(trimOID(v.Name))
				out = append(out, p)
			}
		case gosnmp.GetBulkRequest:
			for _, v := range req.Variables {
				cur := trimOID(v.Name)
				for i := 0; i < int(req.MaxRepetitions) && len(out) < 60; i++ {
					p, ok := a.next(cur)
					out = append(out, p)
					if !ok {
						break
					}
					cur = trimOID(p.Name)
				}
			}
		default:
			continue
		}
		resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Variables: out}
		if b, err := resp.MarshalMsg(); err == nil {
			_, _ = a.conn.WriteToUDP(b, from)
		}
	}
}

// sendTrap sends an SNMPv2c trap from a socket bound to src (so vedetta
// attributes it to the target at that host).
func sendTrap(src net.IP, dst, community, trapOID string, vars ...gosnmp.SnmpPDU) error {
	ua, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: src}, ua)
	if err != nil {
		return err
	}
	defer c.Close()
	pdus := append([]gosnmp.SnmpPDU{
		{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(time.Now().Unix() % 1e6)},
		{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: trapOID},
	}, vars...)
	pkt := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: gosnmp.SNMPv2Trap,
		RequestID: uint32(time.Now().UnixNano() & 0x7fffffff), Variables: pdus}
	b, err := pkt.MarshalMsg()
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// countingProxy relays UDP between SNMP clients and one agent and counts
// the varbinds in the agent's answers: what a tool really fetches.
type countingProxy struct {
	conn     *net.UDPConn
	upstream *net.UDPAddr
	varbinds atomic.Int64
	packets  atomic.Int64
	mu       sync.Mutex
	clients  map[string]*net.UDPConn
	// bursts: varbinds per burst of answers (a poll), a burst ending after
	// burstGap without an answer; under mu.
	bursts []int64
	last   time.Time
}

// burstGap separates two polls of one agent at the proxy.
const burstGap = 400 * time.Millisecond

// burstCounts returns the varbinds of each poll so far.
func (p *countingProxy) burstCounts() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.bursts...)
}

func newCountingProxy(ctx context.Context, upstream string) (*countingProxy, error) {
	ua, err := net.ResolveUDPAddr("udp", upstream)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p := &countingProxy{conn: c, upstream: ua, clients: map[string]*net.UDPConn{}}
	go func() { <-ctx.Done(); p.close() }()
	go p.serve()
	return p, nil
}

func (p *countingProxy) addr() string { return p.conn.LocalAddr().String() }

func (p *countingProxy) reset() {
	p.varbinds.Store(0)
	p.packets.Store(0)
	p.mu.Lock()
	p.bursts = nil
	p.mu.Unlock()
}

func (p *countingProxy) close() {
	p.conn.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.Close()
	}
}

func (p *countingProxy) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.clients[from.String()]
		if up == nil {
			up, err = net.DialUDP("udp", nil, p.upstream)
			if err != nil {
				p.mu.Unlock()
				continue
			}
			p.clients[from.String()] = up
			go p.back(up, from)
		}
		p.mu.Unlock()
		_, _ = up.Write(buf[:n])
	}
}

func (p *countingProxy) back(up *net.UDPConn, client *net.UDPAddr) {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	buf := make([]byte, 65535)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		var vbs int64
		if pkt, err := dec.SnmpDecodePacket(buf[:n]); err == nil {
			for _, v := range pkt.Variables {
				if v.Type != gosnmp.EndOfMibView && v.Type != gosnmp.NoSuchObject && v.Type != gosnmp.NoSuchInstance {
					vbs++
				}
			}
		}
		p.varbinds.Add(vbs)
		p.mu.Lock()
		if now := time.Now(); len(p.bursts) == 0 || now.Sub(p.last) > burstGap {
			p.bursts = append(p.bursts, vbs)
			p.last = now
		} else {
			p.bursts[len(p.bursts)-1] += vbs
			p.last = now
		}
		p.mu.Unlock()
		p.packets.Add(1)
		_, _ = p.conn.WriteToUDP(buf[:n], client)
	}
}

func (p *countingProxy) String() string {
	return fmt.Sprintf("%d varbinds in %d answers", p.varbinds.Load(), p.packets.Load())
}

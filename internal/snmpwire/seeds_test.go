package snmpwire

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
)

var capture = flag.Bool("capture", false, "write the real answers of TestRealAnswersMatchGosnmp as fuzz seeds in testdata/fuzz")

// seedRounds are the GETBULK answers of a recording -capture keeps: the
// system group and a table further on.
var seedRounds = map[int]bool{0: true, 11: true}

// TestRealAnswersMatchGosnmp walks the start of every recording of
// ../shared/testdata/snmprec, served by a real snmpsimd, with GETBULK
// (v2c) and GETNEXT (v1), and reads every answer with both decoders: they
// must agree on each. With -capture it writes two answers of each recording
// (and its v1 answer) as the seed corpora of FuzzWireVsGosnmp and
// FuzzWire.
func TestRealAnswersMatchGosnmp(t *testing.T) {
	bin := testpeer.Need(t, "snmpsimd", "/usr/bin/snmpsimd")
	src := testpeer.SharedTestdata(t, "snmprec")
	files, _ := filepath.Glob(filepath.Join(src, "*.snmprec"))
	if len(files) == 0 {
		t.Fatalf("no recordings in %s", src)
	}
	root, err := os.MkdirTemp("", "vedetta-snmpwire-") // t.TempDir's parent is closed to nobody
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	data, cache := filepath.Join(root, "data"), filepath.Join(root, "cache")
	var names []string
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(d, 0o777) // snmpsimd runs as nobody when started by root
	}
	_ = os.Chmod(root, 0o755)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".snmprec"))
	}
	addr := testpeer.Addr(testpeer.FreeUDPPort(t))
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--agent-udpv4-endpoint=" + addr}
	if os.Geteuid() == 0 {
		args = append(args, "--process-user=nobody", "--process-group=nogroup")
	}
	testpeer.WaitSnmpsimd(t, testpeer.Start(t, nil, bin, args...), addr)

	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	q := &querier{conn: conn, buf: make([]byte, 65535)}
	var seeds [][]byte
	answers, varbinds := 0, 0
	for _, name := range names {
		// GETBULK from the start of the MIB, v2c, 12 rounds of 25: enough
		// kinds of value in CI time (the whole of every recording, 103,000
		// objects, took 96 s here and agreed too).
		next := ".1.3"
		for round := 0; round < 12; round++ {
			pkt := q.ask(ctx, t, gosnmp.Version2c, name, gosnmp.GetBulkRequest, next)
			if pkt == nil {
				t.Fatalf("%s: no answer to GETBULK %s", name, next)
			}
			m := checkAnswer(t, dec, name, pkt)
			answers++
			varbinds += len(m.Varbinds)
			if seedRounds[round] {
				seeds = append(seeds, pkt)
			}
			if len(m.Varbinds) == 0 {
				break
			}
			last := m.Varbinds[len(m.Varbinds)-1]
			if last.Type == gosnmp.EndOfMibView || string(last.Name) == next {
				break
			}
			next = string(last.Name)
		}
		// One v1 GETNEXT, and a v1 GET of something absent (noSuchName).
		for _, typ := range []gosnmp.PDUType{gosnmp.GetNextRequest, gosnmp.GetRequest} {
			pkt := q.ask(ctx, t, gosnmp.Version1, name, typ, ".1.3.6.1.2.1.1.2.0")
			if pkt == nil {
				t.Fatalf("%s: no answer to v1 %v", name, typ)
			}
			checkAnswer(t, dec, name, pkt)
			answers++
			if typ == gosnmp.GetNextRequest {
				seeds = append(seeds, pkt)
			}
		}
	}
	t.Logf("%d recordings, %d answers, %d varbinds: both decoders agree", len(names), answers, varbinds)
	if varbinds < 1000 {
		t.Fatalf("only %d varbinds read: the recordings were not served", varbinds)
	}
	if *capture {
		for _, target := range []string{"FuzzWireVsGosnmp", "FuzzWire"} {
			writeSeeds(t, filepath.Join("testdata", "fuzz", target), seeds)
		}
	}
}

// checkAnswer decodes pkt with both decoders and fails t if they differ.
func checkAnswer(t *testing.T, dec *gosnmp.GoSNMP, name string, pkt []byte) *Message {
	t.Helper()
	var m Message
	err := m.Decode(pkt)
	want, gerr, _ := gosnmpDecode(dec, pkt)
	if err != nil || gerr != nil {
		t.Fatalf("%s: an answer of snmpsimd: ours %v, gosnmp %v", name, err, gerr)
	}
	compare(t, &m, want)
	return &m
}

type querier struct {
	conn net.Conn
	buf  []byte
	id   uint32
}

// ask sends one request and returns the answer's bytes (nil: none in
// five tries).
func (q *querier) ask(ctx context.Context, t *testing.T, v gosnmp.SnmpVersion, community string, typ gosnmp.PDUType, oid string) []byte {
	t.Helper()
	q.id++
	req := &gosnmp.SnmpPacket{Version: v, Community: community, PDUType: typ, RequestID: q.id,
		Variables: []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Null}}}
	if typ == gosnmp.GetBulkRequest {
		req.MaxRepetitions = 25
	}
	out, err := req.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 5 && ctx.Err() == nil; try++ { // snmpsimd indexes a recording at its first query: slow under load
		if _, err := q.conn.Write(out); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = q.conn.SetReadDeadline(deadline)
		for {
			n, err := q.conn.Read(q.buf)
			if err != nil {
				break // timeout: send again
			}
			var m Message
			if m.Decode(q.buf[:n]) == nil && m.RequestID == q.id {
				return append([]byte(nil), q.buf[:n]...)
			}
		}
	}
	return nil
}

// writeSeeds writes packets as a go fuzz corpus, one file per packet
// named by its hash (a rerun rewrites the same files).
func writeSeeds(t *testing.T, dir string, pkts [][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		name := fmt.Sprintf("snmpsimd-%x", sha256.Sum256(p))[:9+16]
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d seeds in %s", len(pkts), dir)
}

package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/notify"
)

// selfSigned writes a certificate for 127.0.0.1/localhost and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func msg(key string) notify.Message {
	return notify.Message{Key: key, AlarmID: "a1", Event: "firing", Severity: "critical",
		Recipient: "oncall@dc1.example", Subject: "[vedetta] FIRING " + key, Body: "UPS on battery"}
}

func newNotifier(t *testing.T, relays ...config.Relay) *notify.Failover {
	t.Helper()
	for i := range relays {
		if relays[i].Timeout == 0 {
			relays[i].Timeout = 3 * time.Second
		}
	}
	n, err := New(&config.Email{From: "vedetta@dc1.example", Relays: relays}, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A relay that requires STARTTLS and AUTH, as real relays do; then implicit
// TLS; a wrong password fails over to the next relay.
func TestTLSAndAuthAgainstMailpit(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	auth := filepath.Join(dir, "auth.txt")
	_ = os.WriteFile(auth, []byte("alarm:s3cret\n"), 0o600)
	starttls := testpeer.StartMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", auth)
	implicit := testpeer.StartMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls", "--smtp-auth-file", auth)

	n := newNotifier(t,
		config.Relay{Host: "127.0.0.1", Port: starttls.SMTPPort, TLS: "starttls", Username: "alarm", Password: "wrong", CAFile: cert},
		config.Relay{Host: "127.0.0.1", Port: implicit.SMTPPort, TLS: "tls", Username: "alarm", Password: "s3cret", CAFile: cert},
	)
	var attempts []string
	n.OnAttempt = func(_, relay string, err error) { attempts = append(attempts, relay+" ok="+boolStr(err == nil)) }
	via, err := n.Notify(context.Background(), msg("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if via != "127.0.0.1:"+itoa(implicit.SMTPPort) || len(attempts) != 2 || !strings.HasSuffix(attempts[0], "ok=false") {
		t.Fatalf("via %s, attempts %v", via, attempts)
	}
	if got := implicit.Matching(t, "FIRING k1"); len(got) != 1 {
		t.Fatalf("implicit-TLS relay got %d messages", len(got))
	}

	good := newNotifier(t, config.Relay{Host: "127.0.0.1", Port: starttls.SMTPPort, TLS: "starttls", Username: "alarm", Password: "s3cret", CAFile: cert})
	if _, err := good.Notify(context.Background(), msg("k2")); err != nil {
		t.Fatal(err)
	}
	if got := starttls.Matching(t, "FIRING k2"); len(got) != 1 {
		t.Fatalf("STARTTLS relay got %d messages", len(got))
	}
	// An unknown CA is refused, not ignored.
	strict := newNotifier(t, config.Relay{Host: "127.0.0.1", Port: starttls.SMTPPort, TLS: "starttls", Username: "alarm", Password: "s3cret"})
	if _, err := strict.Notify(context.Background(), msg("k3")); err == nil || notify.IsPermanent(err) {
		t.Fatalf("untrusted certificate: err %v (want a temporary failure)", err)
	}
}

// SMTP 4xx and refused connections are temporary; 5xx from every relay is
// permanent (retrying would repeat the refusal).
func TestErrorClassification(t *testing.T) {
	m := testpeer.StartMailpit(t, "--enable-chaos")
	n := newNotifier(t, config.Relay{Host: "127.0.0.1", Port: m.SMTPPort, TLS: "none"})
	m.Chaos(t, `{"Recipient":{"ErrorCode":451,"Probability":100}}`)
	if _, err := n.Notify(context.Background(), msg("t1")); err == nil || notify.IsPermanent(err) {
		t.Errorf("451: %v, want temporary", err)
	}
	m.Chaos(t, `{"Recipient":{"ErrorCode":550,"Probability":100}}`)
	if _, err := n.Notify(context.Background(), msg("t2")); err == nil || !notify.IsPermanent(err) {
		t.Errorf("550: %v, want permanent", err)
	}
	closed := newNotifier(t, config.Relay{Host: "127.0.0.1", Port: testpeer.FreePort(t), TLS: "none"})
	if _, err := closed.Notify(context.Background(), msg("t3")); err == nil || notify.IsPermanent(err) {
		t.Errorf("refused connection: %v, want temporary", err)
	}
	m.Chaos(t, `{}`)
	if _, err := n.Notify(context.Background(), msg("t4")); err != nil {
		t.Errorf("after chaos reset: %v", err)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func itoa(i int) string { return strconv.Itoa(i) }

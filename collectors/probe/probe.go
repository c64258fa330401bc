package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/internal/config"
	"github.com/vedetta-dc/vedetta/internal/redact"
	"github.com/vedetta-dc/vedetta/internal/tlsconf"
	"github.com/vedetta-dc/vedetta/model"
)

// Options is the `probe:` block of a target. Exactly one of HTTP, TCP and
// TLS is set.
type Options struct {
	HTTP string `yaml:"http"` // URL, http or https
	TCP  string `yaml:"tcp"`  // host:port, connect only
	TLS  string `yaml:"tls"`  // host:port, TLS handshake (certificate expiry)
	// Timeout of one probe (default 5s; never beyond the target's timeout).
	Timeout time.Duration `yaml:"timeout"`
	// ValidStatus lists the HTTP codes that count as up (default 200-399).
	ValidStatus        []int  `yaml:"valid_status"`
	NoFollowRedirects  bool   `yaml:"no_follow_redirects"`
	Method             string `yaml:"method"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

type options struct {
	Probe Options `yaml:"probe"`
}

// Collector probes one service.
type Collector struct {
	opts   Options
	kind   string // http | tcp | tls
	addr   string // what is probed: the URL or host:port
	shown  string // addr as labels, logs and errors show it: without credentials
	tlsCfg *tls.Config
	log    *slog.Logger
	now    func() time.Time
	lastOK *bool
}

// New validates the options; it does not contact the service.
func New(spec collectors.Spec, decode collectors.Decode) (collectors.Collector, error) {
	var o options
	if err := decode(&o); err != nil {
		return nil, err
	}
	opts := o.Probe
	c := &Collector{opts: opts, now: time.Now}
	set := 0
	if opts.HTTP != "" {
		set++
		u, err := url.Parse(opts.HTTP)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the rest names the URL
			}
			return nil, config.Problem("probe.http", "want an http:// or https:// URL: %v", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, config.Problem("probe.http", "want an http:// or https:// URL, got %q", redact.URL(opts.HTTP))
		}
		c.kind, c.addr, c.shown = "http", opts.HTTP, redact.URL(opts.HTTP)
	}
	for _, hp := range []struct{ kind, v string }{{"tcp", opts.TCP}, {"tls", opts.TLS}} {
		if hp.v == "" {
			continue
		}
		set++
		if _, port, err := net.SplitHostPort(hp.v); err != nil || port == "" {
			return nil, config.Problem("probe."+hp.kind, "want host:port, got %q", hp.v)
		}
		c.kind, c.addr, c.shown = hp.kind, hp.v, hp.v
	}
	if set != 1 {
		return nil, config.Problem("probe", "give exactly one of http, tcp, tls")
	}
	if c.opts.Timeout == 0 {
		c.opts.Timeout = 5 * time.Second
	}
	if c.opts.Method == "" {
		c.opts.Method = http.MethodGet
	}
	for _, code := range opts.ValidStatus {
		if code < 100 || code > 599 {
			return nil, config.Problem("probe.valid_status", "%d is not an HTTP status", code)
		}
	}
	tc, err := tlsconf.Client(opts.ServerName, opts.CAFile, spec.BaseDir, opts.InsecureSkipVerify)
	if err != nil {
		return nil, config.Problem("probe.ca_file", "%v", err)
	}
	c.tlsCfg = tc
	log := spec.Logger
	if log == nil {
		log = slog.Default()
	}
	c.log = log
	return c, nil
}

// Collect runs the probe. A service that does not answer is a result
// (probe_success 0), not a collection error.
func (c *Collector) Collect(ctx context.Context, emit func(model.Sample)) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ls := model.L("probe", c.kind, "address", c.shown)
	start := time.Now()
	var r result
	switch c.kind {
	case "http":
		r = c.probeHTTP(ctx)
	case "tcp":
		r = c.probeTCP(ctx, false)
	case "tls":
		r = c.probeTCP(ctx, true)
	}
	dur := time.Since(start)
	ok := r.err == nil
	if c.lastOK == nil || *c.lastOK != ok {
		if ok {
			c.log.Info("probe succeeds", "address", c.shown)
		} else {
			c.log.Warn("probe fails", "address", c.shown, "err", r.err)
		}
		c.lastOK = &ok
	}
	emit(model.Sample{Name: "probe_success", Labels: ls, Value: b2f(ok)})
	emit(model.Sample{Name: "probe_duration_seconds", Labels: ls, Value: dur.Seconds()})
	if r.status != 0 {
		emit(model.Sample{Name: "probe_http_status_code", Labels: ls, Value: float64(r.status)})
	}
	if !r.expiry.IsZero() {
		emit(model.Sample{Name: "probe_tls_cert_expiry_seconds", Labels: ls, Value: r.expiry.Sub(c.now()).Seconds()})
	}
	return nil
}

type result struct {
	err    error
	status int
	expiry time.Time // earliest NotAfter of the certificates the server sent
}

func earliest(certs []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range certs {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

func (c *Collector) probeTCP(ctx context.Context, withTLS bool) result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return result{err: err}
	}
	defer conn.Close()
	if !withTLS {
		return result{}
	}
	cfg := c.tlsCfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(c.addr)
	}
	tc := tls.Client(conn, cfg)
	err = tc.HandshakeContext(ctx)
	r := result{err: err}
	r.expiry = earliest(tc.ConnectionState().PeerCertificates)
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		r.expiry = earliest(ve.UnverifiedCertificates)
	}
	return r
}

func (c *Collector) probeHTTP(ctx context.Context) result {
	tr := &http.Transport{TLSClientConfig: c.tlsCfg.Clone(), DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if c.opts.NoFollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	req, err := http.NewRequestWithContext(ctx, c.opts.Method, c.addr, nil)
	if err != nil {
		return result{err: redact.Error(err, c.addr)}
	}
	req.Header.Set("User-Agent", "vedetta-probe")
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error names the URL (and a redirect's), query included.
		r := result{err: redact.Error(err, c.addr)}
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			r.expiry = earliest(ve.UnverifiedCertificates)
		}
		return r
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	r := result{status: resp.StatusCode}
	if resp.TLS != nil {
		r.expiry = earliest(resp.TLS.PeerCertificates)
	}
	if !c.validStatus(resp.StatusCode) {
		r.err = fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return r
}

func (c *Collector) validStatus(code int) bool {
	if len(c.opts.ValidStatus) == 0 {
		return code >= 200 && code < 400
	}
	for _, v := range c.opts.ValidStatus {
		if v == code {
			return true
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

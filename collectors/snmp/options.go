package snmp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vedetta-dc/vedetta/internal/config"
)

// Options is the kind-specific part of an SNMP target:
//
//	snmp: {address, version, community, user, auth, priv, context, timeout, retries, max_repetitions, max_oids, max_walk_varbinds}
//	profiles: [auto]
type Options struct {
	SNMP     Agent    `yaml:"snmp"`
	Profiles []string `yaml:"profiles"`
}

// Agent says how to reach one SNMP agent. It is shared by the collector,
// `vedetta probe snmp` and the trap listener (v3 users).
type Agent struct {
	Address   string        `yaml:"address"` // host or host:port (161 by default)
	Version   string        `yaml:"version"` // 1 | 2c | 3 (default 2c)
	Community config.Secret `yaml:"community"`
	User      string        `yaml:"user"`
	Auth      *Auth         `yaml:"auth"`
	Priv      *Priv         `yaml:"priv"`
	Context   string        `yaml:"context"` // SNMPv3 context name
	// Timeout is per request (default 2s); Retries the number of resends
	// (default 1). The collection deadline of the target still applies.
	Timeout        time.Duration `yaml:"timeout"`
	Retries        *int          `yaml:"retries"`
	MaxRepetitions uint32        `yaml:"max_repetitions"` // GETBULK start value (default 25)
	MaxOIDs        int           `yaml:"max_oids"`        // varbinds per GET (default 32)
	// MaxWalkVarbinds caps the objects read from one walked table column
	// (default 10,000), and their size at 1 KiB each on average: an agent
	// that walks for ever (a firmware bug) costs this much and no more; the
	// walk stops there and is counted in vedetta_snmp_walk_truncated_total.
	MaxWalkVarbinds int `yaml:"max_walk_varbinds"`
}

// Auth is SNMPv3 authentication: MD5, SHA, SHA224, SHA256, SHA384, SHA512.
type Auth struct {
	Protocol   string        `yaml:"protocol"`
	Passphrase config.Secret `yaml:"passphrase"`
}

// Priv is SNMPv3 privacy: DES, AES (128), AES192, AES256 (Blumenthal, as
// net-snmp), AES192C, AES256C (Reeder, "Cisco" key extension).
type Priv struct {
	Protocol   string        `yaml:"protocol"`
	Passphrase config.Secret `yaml:"passphrase"`
}

// Defaults.
const (
	DefaultTimeout        = 2 * time.Second
	DefaultRetries        = 1
	DefaultMaxRepetitions = 25
	DefaultMaxOIDs        = 32
	// DefaultMaxWalkVarbinds is far above any real table (a 48-port switch
	// has 48 rows per column, a chassis a few thousand).
	DefaultMaxWalkVarbinds = 10000
	maxMaxWalkVarbinds     = 1000000
)

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA1": gosnmp.SHA, "SHA224": gosnmp.SHA224,
	"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES128": gosnmp.AES, "AES192": gosnmp.AES192,
	"AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

// normProto accepts "sha-256", "SHA256", "aes-256"... as net-snmp spells them.
func normProto(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
}

// Validate applies defaults and checks the fields; problems are returned as
// one error per field, joined (field names relative to the snmp: block).
func (a *Agent) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, config.Problem(field, format, args...))
	}
	if a.Address == "" {
		bad("address", "every SNMP target needs an address (host or host:port)")
	} else if _, _, err := a.hostPort(); err != nil {
		bad("address", "%v", err)
	}
	switch strings.ToLower(a.Version) {
	case "":
		a.Version = "2c"
	case "1", "v1":
		a.Version = "1"
	case "2", "2c", "v2c", "v2":
		a.Version = "2c"
	case "3", "v3":
		a.Version = "3"
	default:
		bad("version", "want 1, 2c or 3, got %q", a.Version)
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultTimeout
	}
	if a.Retries == nil {
		r := DefaultRetries
		a.Retries = &r
	} else if *a.Retries < 0 || *a.Retries > 10 {
		bad("retries", "want 0-10, got %d", *a.Retries)
	}
	if a.MaxRepetitions == 0 {
		a.MaxRepetitions = DefaultMaxRepetitions
	}
	if a.MaxOIDs == 0 {
		a.MaxOIDs = DefaultMaxOIDs
	} else if a.MaxOIDs < 1 || a.MaxOIDs > 128 {
		bad("max_oids", "want 1-128, got %d", a.MaxOIDs)
	}
	if a.MaxWalkVarbinds == 0 {
		a.MaxWalkVarbinds = DefaultMaxWalkVarbinds
	} else if a.MaxWalkVarbinds < 1 || a.MaxWalkVarbinds > maxMaxWalkVarbinds {
		bad("max_walk_varbinds", "want 1-%d, got %d", maxMaxWalkVarbinds, a.MaxWalkVarbinds)
	}
	if a.Version == "3" {
		if a.User == "" {
			bad("user", "SNMPv3 needs a user")
		}
		if a.Community != "" {
			bad("community", "SNMPv3 uses user/auth/priv, not a community")
		}
		if a.Auth != nil {
			if _, ok := authProtocols[normProto(a.Auth.Protocol)]; !ok {
				bad("auth.protocol", "want MD5, SHA, SHA224, SHA256, SHA384 or SHA512, got %q", a.Auth.Protocol)
			}
			if len(a.Auth.Passphrase) < 8 {
				bad("auth.passphrase", "SNMPv3 passphrases have at least 8 characters")
			}
		}
		if a.Priv != nil {
			if a.Auth == nil {
				bad("priv", "privacy needs auth too (authPriv)")
			}
			if _, ok := privProtocols[normProto(a.Priv.Protocol)]; !ok {
				bad("priv.protocol", "want DES, AES, AES192, AES256, AES192C or AES256C, got %q", a.Priv.Protocol)
			}
			if len(a.Priv.Passphrase) < 8 {
				bad("priv.passphrase", "SNMPv3 passphrases have at least 8 characters")
			}
		}
	} else {
		if a.Community == "" {
			a.Community = "public"
		}
		for f, set := range map[string]bool{"user": a.User != "", "auth": a.Auth != nil, "priv": a.Priv != nil, "context": a.Context != ""} {
			if set {
				bad(f, "only for SNMPv3 (version: 3), this target uses version %s", a.Version)
			}
		}
	}
	return errors.Join(errs...)
}

// hostPort splits the address; the port defaults to 161.
func (a *Agent) hostPort() (string, uint16, error) {
	host, port := a.Address, "161"
	if h, p, err := net.SplitHostPort(a.Address); err == nil {
		host, port = h, p
	} else if strings.Count(a.Address, ":") == 1 {
		return "", 0, fmt.Errorf("%q: want host or host:port", a.Address)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("%q: bad port %q", a.Address, port)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q: no host", a.Address)
	}
	return host, uint16(n), nil
}

// Host is the address without the port (traps are matched on it).
func (a *Agent) Host() string {
	h, _, err := a.hostPort()
	if err != nil {
		return a.Address
	}
	return h
}

// gosnmp builds an unconnected gosnmp session for a validated Agent.
func (a *Agent) gosnmp() (*gosnmp.GoSNMP, error) {
	host, port, err := a.hostPort()
	if err != nil {
		return nil, err
	}
	g := &gosnmp.GoSNMP{
		Target: host, Port: port, Transport: "udp",
		Community: a.Community.Reveal(), Timeout: a.Timeout, Retries: *a.Retries,
		MaxOids: a.MaxOIDs, MaxRepetitions: a.MaxRepetitions,
	}
	switch a.Version {
	case "1":
		g.Version = gosnmp.Version1
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = a.Context
		usm, flags := a.usm()
		g.MsgFlags = flags
		g.SecurityParameters = usm
	default:
		g.Version = gosnmp.Version2c
	}
	return g, nil
}

// usm returns the USM parameters and the security level of a v3 agent.
func (a *Agent) usm() (*gosnmp.UsmSecurityParameters, gosnmp.SnmpV3MsgFlags) {
	usm := &gosnmp.UsmSecurityParameters{UserName: a.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	flags := gosnmp.NoAuthNoPriv
	if a.Auth != nil {
		flags = gosnmp.AuthNoPriv
		usm.AuthenticationProtocol = authProtocols[normProto(a.Auth.Protocol)]
		usm.AuthenticationPassphrase = a.Auth.Passphrase.Reveal()
		if a.Priv != nil {
			flags = gosnmp.AuthPriv
			usm.PrivacyProtocol = privProtocols[normProto(a.Priv.Protocol)]
			usm.PrivacyPassphrase = a.Priv.Passphrase.Reveal()
		}
	}
	return usm, flags
}

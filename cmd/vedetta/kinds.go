package main

import (
	"github.com/spf13/cobra"

	"github.com/vedetta-dc/vedetta/collectors"
	"github.com/vedetta-dc/vedetta/collectors/authlog"
	execcol "github.com/vedetta-dc/vedetta/collectors/exec"
	"github.com/vedetta-dc/vedetta/collectors/files"
	"github.com/vedetta-dc/vedetta/collectors/host"
	"github.com/vedetta-dc/vedetta/collectors/ipmi"
	"github.com/vedetta-dc/vedetta/collectors/mailqueue"
	"github.com/vedetta-dc/vedetta/collectors/nut"
	"github.com/vedetta-dc/vedetta/collectors/probe"
	"github.com/vedetta-dc/vedetta/collectors/raid"
	"github.com/vedetta-dc/vedetta/collectors/smart"
	"github.com/vedetta-dc/vedetta/collectors/snmp"
)

// newKinds lists every collector kind vedetta knows. Registration is
// explicit, one line per kind, so what is compiled in is plain to read.
// The SNMP kind carries the profile set of one config: every SNMP target
// built from this registry holds that set for its life.
func newKinds(profiles *snmp.ProfileSet) *collectors.Registry {
	r, _ := newKindsWithSNMP(profiles)
	return r
}

// newKindsWithSNMP also returns the snmp kind, whose own metrics the daemon
// registers once its registry exists (Kind.Register).
func newKindsWithSNMP(profiles *snmp.ProfileSet) (*collectors.Registry, *snmp.Kind) {
	r := collectors.NewRegistry()
	sk := snmp.NewKind(profiles, snmp.DefaultMaxPolls)
	r.Register("host", host.New)
	r.Register("exec", execcol.New)
	r.Register("smart", smart.New)
	r.Register("nut", nut.New)
	r.Register("raid", raid.New)
	r.Register("files", files.New)
	r.Register("authlog", authlog.New)
	r.Register("probe", probe.New)
	r.Register("mailqueue", mailqueue.New)
	r.Register("ipmi", ipmi.New)
	r.Register("snmp", sk.New)
	return r, sk
}

// extraCommands are subcommands contributed by collector families
// (`vedetta profiles`, `vedetta probe snmp`...).
func extraCommands() []*cobra.Command {
	return snmpCommands()
}

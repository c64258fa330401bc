package main

import (
	"fmt"
	"io"
)

// printWarnings prints what `vedetta check` finds doubtful but not wrong
// (a rule reading a name only an exec target might print): it does not
// change the exit code.
func printWarnings(w io.Writer, p *parts) {
	if p == nil {
		return
	}
	for _, x := range p.names.warnings {
		fmt.Fprintln(w, "warning:", x)
	}
}

// printNotes says, after OK, what is fine but worth knowing.
func printNotes(w io.Writer, p *parts) {
	if p == nil || p.names.idle == 0 {
		return
	}
	what := fmt.Sprintf("%d rules read", p.names.idle)
	if p.names.idle == 1 {
		what = "1 rule reads"
	}
	fmt.Fprintf(w, "note: %s only metrics that no configured target emits (rules for kinds this config has no target of): they stay quiet until one is added\n", what)
}

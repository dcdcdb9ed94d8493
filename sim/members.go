package main

import (
	"io"

	"github.com/plumview/plumview/sim/report"
	"github.com/plumview/plumview/sim/scenario"
)

// runMembers runs the member-list experiment: joins, a metadata change and
// a crash of a tenth of the nodes, each timed until every live node's list
// agrees.
func runMembers(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	opts := scenario.PaperlessMembersOptions(o.nodes)
	opts.Seed, opts.SyncInterval, opts.Check, opts.Progress = o.seed, o.syncInterval, o.check, progress
	res, err := scenario.RunMembers(opts)
	if err != nil {
		return err
	}
	return printTable(stdout, rep, "Member list", func(w io.Writer) error {
		return scenario.WriteMembersTable(w, opts, res)
	})
}

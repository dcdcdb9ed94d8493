package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/plumview/plumview/sim/report"
	"github.com/plumview/plumview/sim/scenario"
)

// runMembers runs the member-list experiment: joins, a metadata change and
// a crash of a tenth of the nodes, each timed until every live node's list
// agrees.
func runMembers(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	opts := scenario.PaperlessMembersOptions(o.nodes)
	opts.Seed, opts.SyncInterval, opts.RejoinInterval, opts.Check, opts.Progress = o.seed, o.syncInterval, o.rejoinInterval, o.check, progress
	opts.ProbeInterval, opts.IslandCheckAge = o.probeInterval, o.islandCheckAge
	if o.memProfile != "" {
		opts.AfterJoin = func() error { return writeHeapProfile(o.memProfile + "-joined") }
		opts.AtEnd = func() error { return writeHeapProfile(o.memProfile) }
	}
	res, err := scenario.RunMembers(opts)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, "Member list", func(w io.Writer) error {
		return scenario.WriteMembersTable(w, opts, res)
	})
	if err != nil || rep == nil {
		return err
	}
	return membersCharts(rep, opts, res)
}

// membersCharts adds how the share of complete lists grows after the joins
// and after the crash.
func membersCharts(rep report.Sink, o scenario.MembersOptions, r scenario.MembersResult) error {
	curve := func(name string, ys []float64) report.Series {
		s := report.Series{Name: name}
		for i, y := range ys {
			s.X = append(s.X, (time.Duration(i) * scenario.MemberCheckEvery).Seconds())
			s.Y = append(s.Y, 100*y)
		}
		return s
	}
	join := report.LineChart{
		Title:  fmt.Sprintf("Nodes listing every node after a burst of joins (%d nodes)", o.Nodes),
		XLabel: "seconds after the last join", YLabel: "nodes with a complete list (%)",
		Series: []report.Series{curve("complete lists", r.JoinCurve)},
	}
	if err := rep.AddLine("members-join", join); err != nil {
		return err
	}
	fail := report.LineChart{
		Title:  fmt.Sprintf("Live nodes listing every crashed node failed (%d of %d crashed)", r.Crashed, o.Nodes),
		XLabel: "seconds after the crash", YLabel: "live nodes (%)",
		Series: []report.Series{curve("all crashed listed failed", r.FailCurve)},
	}
	return rep.AddLine("members-fail", fail)
}

// writeHeapProfile writes a heap profile of what is reachable now to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-memprofile: %w", err)
	}
	runtime.GC() // the profile shows the heap as of the last collection
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("-memprofile: %w", err)
	}
	return f.Close()
}

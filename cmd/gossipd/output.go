package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// stateName returns "alive" for MEMBER_STATE_ALIVE.
func stateName(s gossipdv1.MemberState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "MEMBER_STATE_"))
}

// printMembers writes the members as a table.
func printMembers(w io.Writer, ms []*gossipdv1.Member) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tINCARNATION\tADDRESS\tMETADATA")
	for _, m := range ms {
		id := m.GetId()
		if m.GetSelf() {
			id += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", id, stateName(m.GetState()), m.GetIncarnation(), m.GetAddr(), m.GetMetadata())
	}
	return tw.Flush()
}

// printStatus writes the status as a list of fields.
func printStatus(w io.Writer, st *gossipdv1.StatusResponse) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", st.GetId())
	fmt.Fprintf(tw, "address:\t%s\n", st.GetAddr())
	fmt.Fprintf(tw, "bind:\t%s\n", st.GetBindAddr())
	fmt.Fprintf(tw, "joined:\t%t\n", st.GetJoined())
	fmt.Fprintf(tw, "uptime:\t%ds\n", st.GetUptimeSeconds())
	fmt.Fprintf(tw, "active view:\t%s\n", strings.Join(st.GetActiveView(), " "))
	fmt.Fprintf(tw, "passive view:\t%s\n", strings.Join(st.GetPassiveView(), " "))
	fmt.Fprintf(tw, "eager peers:\t%s\n", strings.Join(st.GetEagerPeers(), " "))
	fmt.Fprintf(tw, "lazy peers:\t%s\n", strings.Join(st.GetLazyPeers(), " "))
	fmt.Fprintf(tw, "sequence:\t%d (oldest retained %d, epoch %d)\n", st.GetLastSequence(), st.GetOldestRetainedSequence(), st.GetEpoch())
	keys := make([]string, 0, len(st.GetCounters()))
	for k := range st.GetCounters() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%d\n", k, st.GetCounters()[k])
	}
	return tw.Flush()
}

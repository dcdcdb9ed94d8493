package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/cmd/gossipd/internal/overlaysvg"
)

// runClusterStatus gathers every member's views through the agent
// (ClusterViews: the agent asks each member over the cluster's
// connections), prints a summary and the views, and draws the cluster
// into svgFile when given. The agent's own member list gives each node's
// state.
func runClusterStatus(c *clientFlags, svgFile string, stdout io.Writer) error {
	// The agent's query ends a little before the call's deadline, so that
	// the members that did not answer are listed rather than lost.
	budget := max(c.timeout-time.Second, c.timeout/2)
	var resp *gossipdv1.ClusterViewsResponse
	err := c.unary("status -cluster", func(ctx context.Context, cl gossipdv1.GossipServiceClient) (err error) {
		resp, err = cl.ClusterViews(ctx, &gossipdv1.ClusterViewsRequest{TimeoutMs: uint32(budget / time.Millisecond)})
		return err
	})
	if err != nil {
		return err
	}
	members, err := allMembers(c)
	if err != nil {
		return err
	}
	pic, err := clusterPicture(resp, members)
	if err != nil {
		return err
	}
	if svgFile != "" {
		var b bytes.Buffer
		if err := overlaysvg.Render(&b, pic); err != nil {
			return err
		}
		if err := os.WriteFile(svgFile, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("gossipd: status -cluster: %w", err)
		}
	}
	if c.output == "json" {
		return printJSON(stdout, resp)
	}
	return printCluster(stdout, resp, members, pic, svgFile)
}

// allMembers reads the agent's whole member list, a page at a time.
func allMembers(c *clientFlags) ([]*gossipdv1.Member, error) {
	var out []*gossipdv1.Member
	req := &gossipdv1.MembersRequest{}
	for {
		var page *gossipdv1.MembersResponse
		err := c.unary("members", func(ctx context.Context, cl gossipdv1.GossipServiceClient) (err error) {
			page, err = cl.Members(ctx, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page.GetMembers()...)
		if page.GetNextAfterId() <= req.GetAfterId() {
			return out, nil
		}
		req.AfterId = page.GetNextAfterId()
	}
}

// clusterPicture turns the answer and the member list into a picture:
// every member, and every node that answered, with its state and views.
func clusterPicture(resp *gossipdv1.ClusterViewsResponse, members []*gossipdv1.Member) (overlaysvg.Picture, error) {
	self, err := parseID(resp.GetId())
	if err != nil {
		return overlaysvg.Picture{}, err
	}
	byID := map[uint64]*overlaysvg.Node{}
	var order []uint64
	node := func(id uint64) *overlaysvg.Node {
		if n := byID[id]; n != nil {
			return n
		}
		n := &overlaysvg.Node{ID: id, Self: id == self}
		byID[id] = n
		order = append(order, id)
		return n
	}
	for _, m := range members {
		id, err := parseID(m.GetId())
		if err != nil {
			return overlaysvg.Picture{}, err
		}
		node(id).State = stateName(m.GetState())
	}
	for _, v := range resp.GetNodes() {
		id, err := parseID(v.GetId())
		if err != nil {
			return overlaysvg.Picture{}, err
		}
		n := node(id)
		n.Known = true
		for _, l := range []struct {
			dst *[]uint64
			src []string
		}{{&n.Active, v.GetActiveView()}, {&n.Passive, v.GetPassiveView()}, {&n.Eager, v.GetEagerPeers()}, {&n.Lazy, v.GetLazyPeers()}} {
			for _, s := range l.src {
				id, err := parseID(s)
				if err != nil {
					return overlaysvg.Picture{}, err
				}
				*l.dst = append(*l.dst, id)
			}
		}
	}
	pic := overlaysvg.Picture{Title: "plumview cluster seen from " + resp.GetId()}
	for _, id := range order {
		pic.Nodes = append(pic.Nodes, *byID[id])
	}
	return pic, nil
}

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("gossipd: status -cluster: bad node ID %q from the agent", s)
	}
	return id, nil
}

// printCluster writes the summary, then one line per node.
func printCluster(w io.Writer, resp *gossipdv1.ClusterViewsResponse, members []*gossipdv1.Member, pic overlaysvg.Picture, svgFile string) error {
	var known []overlaysvg.Node
	for _, n := range pic.Nodes {
		if n.Known {
			known = append(known, n)
		}
	}
	s := overlaysvg.Summarize(known)
	states := map[string]int{}
	for _, m := range members {
		states[stateName(m.GetState())]++
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "asked through:\t%s\n", resp.GetId())
	fmt.Fprintf(tw, "members:\talive %d, suspect %d, failed %d, left %d\n", states["alive"], states["suspect"], states["failed"], states["left"])
	fmt.Fprintf(tw, "nodes:\t%d answered, %d did not\n", len(resp.GetNodes()), len(resp.GetUnanswered()))
	fmt.Fprintf(tw, "active links:\t%d, %d symmetric\n", s.ActiveLinks, s.SymmetricActive)
	fmt.Fprintf(tw, "passive links:\t%d\n", s.PassiveLinks)
	sizes := make([]string, len(s.Components))
	for i, c := range s.Components {
		sizes[i] = strconv.Itoa(len(c))
	}
	fmt.Fprintf(tw, "components:\t%d (sizes %s)\n", len(s.Components), strings.Join(sizes, ", "))
	if len(resp.GetUnanswered()) > 0 {
		fmt.Fprintf(tw, "did not answer:\t%s\n", strings.Join(resp.GetUnanswered(), " "))
	}
	if svgFile != "" {
		fmt.Fprintf(tw, "picture:\t%s\n", svgFile)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACTIVE\tPASSIVE\tEAGER\tLAZY")
	for _, v := range resp.GetNodes() {
		id := v.GetId()
		if id == resp.GetId() {
			id += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, strings.Join(v.GetActiveView(), " "), strings.Join(v.GetPassiveView(), " "),
			strings.Join(v.GetEagerPeers(), " "), strings.Join(v.GetLazyPeers(), " "))
	}
	return tw.Flush()
}

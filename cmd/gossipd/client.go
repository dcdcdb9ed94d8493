package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	socket, addr, output string
	timeout              time.Duration
}

func newClientFlags(name string, c *clientFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.socket, "socket", "/tmp/gossipd.sock", "Unix socket `path` of the agent")
	fs.StringVar(&c.addr, "addr", "", "loopback TCP `address` of the agent, instead of -socket")
	fs.StringVar(&c.output, "o", "table", "output `format`: table or json")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long a call may take")
	return fs
}

// dial connects to the agent, failing clearly when nothing answers.
func (c *clientFlags) dial() (gossipdv1.GossipServiceClient, func(), error) {
	if c.output != "table" && c.output != "json" {
		return nil, nil, fmt.Errorf("gossipd: -o %q: want table or json", c.output)
	}
	// gRPC reads "unix://./a.sock" as authority "."; an absolute path
	// makes any relative -socket work.
	socket, err := filepath.Abs(c.socket)
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: -socket %q: %w", c.socket, err)
	}
	network, where, target := "unix", c.socket, "unix://"+socket
	if c.addr != "" {
		network, where, target = "tcp", c.addr, "passthrough:///"+c.addr
	}
	dialAt := where
	if network == "unix" {
		dialAt = socket
	}
	probe, err := net.DialTimeout(network, dialAt, 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: no agent running at %s (%v)", where, err)
	}
	_ = probe.Close()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: connect to %s: %w", where, err)
	}
	return gossipdv1.NewGossipServiceClient(conn), func() { _ = conn.Close() }, nil
}

// unary dials the agent and makes one call under the -timeout deadline; a
// failed call's error is rendered by callErr, naming op.
func (c *clientFlags) unary(op string, call func(ctx context.Context, cl gossipdv1.GossipServiceClient) error) error {
	cl, closeFn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := call(ctx, cl); err != nil {
		return callErr(op, err)
	}
	return nil
}

// callErr renders a call's error.
func callErr(op string, err error) error {
	if st, ok := status.FromError(err); ok {
		msg := strings.TrimPrefix(st.Message(), "gossipd: ")
		if st.Code() == codes.Unavailable && strings.Contains(msg, "connection") {
			return fmt.Errorf("gossipd: %s: the agent is not answering: %s", op, msg)
		}
		return fmt.Errorf("gossipd: %s: %s (%s)", op, msg, st.Code())
	}
	return fmt.Errorf("gossipd: %s: %w", op, err)
}

// printJSON writes m as one JSON object per line.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("gossipd: encode: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// runStatus prints the agent's status, or with -cluster every member's
// views (cluster.go).
func runStatus(args []string, stdout, stderr io.Writer) error {
	var c clientFlags
	fs := newClientFlags("status", &c)
	cluster := fs.Bool("cluster", false, "gather every member's views through the overlay and summarise the cluster")
	svg := fs.String("svg", "", "with -cluster: write the cluster's picture as SVG to `file`")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *cluster {
		return runClusterStatus(&c, *svg, stdout)
	}
	if *svg != "" {
		return fmt.Errorf("gossipd: status: -svg needs -cluster")
	}
	var st *gossipdv1.StatusResponse
	err := c.unary("status", func(ctx context.Context, cl gossipdv1.GossipServiceClient) (err error) {
		st, err = cl.Status(ctx, &gossipdv1.StatusRequest{})
		return err
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(stdout, st)
	}
	return printStatus(stdout, st)
}

// runLeave asks the agent to leave the cluster and stop.
func runLeave(args []string, stdout, stderr io.Writer) error {
	var c clientFlags
	if err := parseFlags(newClientFlags("leave", &c), args, stderr); err != nil {
		return err
	}
	err := c.unary("leave", func(ctx context.Context, cl gossipdv1.GossipServiceClient) error {
		_, err := cl.Leave(ctx, &gossipdv1.LeaveRequest{})
		return err
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(stdout, &gossipdv1.LeaveResponse{})
	}
	_, err = fmt.Fprintln(stdout, "left the cluster; the agent is stopping")
	return err
}

// isEOF reports whether a stream ended normally.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }

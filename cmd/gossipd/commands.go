package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/transport"
)

// runMembers prints the member list.
func runMembers(args []string, stdout, stderr io.Writer) error {
	var c clientFlags
	fs := newClientFlags("members", &c)
	state := fs.String("state", "", "comma-separated states to list: alive, suspect, failed, left (default all)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	req := &gossipdv1.MembersRequest{}
	for _, s := range splitList(*state) {
		v, ok := gossipdv1.MemberState_value["MEMBER_STATE_"+strings.ToUpper(s)]
		if !ok || v == 0 {
			return fmt.Errorf("gossipd: -state %q: want alive, suspect, failed or left", s)
		}
		req.States = append(req.States, gossipdv1.MemberState(v))
	}
	// The list comes in pages (MembersRequest.after_id); the command
	// gathers them all.
	resp := &gossipdv1.MembersResponse{}
	for {
		var page *gossipdv1.MembersResponse
		err := c.unary("members", func(ctx context.Context, cl gossipdv1.GossipServiceClient) (err error) {
			page, err = cl.Members(ctx, req)
			return err
		})
		if err != nil {
			return err
		}
		resp.Members = append(resp.Members, page.GetMembers()...)
		if page.GetNextAfterId() == 0 {
			break
		}
		if page.GetNextAfterId() <= req.GetAfterId() {
			return fmt.Errorf("gossipd: members: the agent's pages do not advance (after %d)", req.GetAfterId())
		}
		req.AfterId = page.GetNextAfterId()
	}
	if c.output == "json" {
		return printJSON(stdout, resp)
	}
	return printMembers(stdout, resp.GetMembers())
}

// runBroadcast broadcasts the payload given as an argument, in -file, or
// on standard input ("-").
func runBroadcast(args []string, stdout, stderr io.Writer) error {
	var c clientFlags
	fs := newClientFlags("broadcast", &c)
	topic := fs.String("topic", "", "`topic` to broadcast on (required)")
	file := fs.String("file", "", "read the payload from `file` (- for standard input)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("gossipd: broadcast: -topic is required")
	}
	if err := checkTopic("broadcast", *topic); err != nil {
		return err
	}
	var payload []byte
	switch {
	case *file != "" && fs.NArg() > 0:
		return fmt.Errorf("gossipd: broadcast: give the payload as an argument or -file, not both")
	case *file == "-":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("gossipd: broadcast: read standard input: %w", err)
		}
		payload = b
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("gossipd: broadcast: %w", err)
		}
		payload = b
	case fs.NArg() == 1:
		payload = []byte(fs.Arg(0))
	default:
		return fmt.Errorf("gossipd: broadcast: give one payload argument (quote it) or -file; see gossipd broadcast -h")
	}
	if len(payload) > maxPayloadBytes {
		return fmt.Errorf("gossipd: broadcast: payload of %d bytes exceeds the agent's limit of %d KiB (%d bytes; -max-payload may set it lower)",
			len(payload), maxPayloadBytes>>10, maxPayloadBytes)
	}
	var resp *gossipdv1.BroadcastResponse
	err := c.unary("broadcast", func(ctx context.Context, cl gossipdv1.GossipServiceClient) (err error) {
		resp, err = cl.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: *topic, Payload: payload})
		return err
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(stdout, resp)
	}
	_, err = fmt.Fprintf(stdout, "id %s\n", resp.GetMessageId())
	return err
}

// runSubscribe prints the messages of some topics until interrupted, or
// until -count messages were printed.
func runSubscribe(args []string, stdout, stderr io.Writer) error {
	var c clientFlags
	fs := newClientFlags("subscribe", &c)
	topics := fs.String("topics", "", "comma-separated `topics` (default all; -topic for a topic with a comma)")
	var topicList listFlag
	fs.Var(&topicList, "topic", "a `topic` to print, taken whole (commas included); repeat it for several, beside -topics or instead")
	resume := fs.Uint64("resume-from", 0, "replay the retained messages after this `sequence` number")
	epoch := fs.Uint64("resume-epoch", 0, "the `epoch` of -resume-from (each message's epoch in -o json; gossipd status): if the agent restarted since, it says so first")
	count := fs.Int("count", 0, "exit after this many messages (default: never)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *count < 0 {
		return fmt.Errorf("gossipd: subscribe: -count %d: want a positive number of messages, or 0 for no limit", *count)
	}
	want := append(splitList(*topics), topicList...)
	for _, t := range want {
		if err := checkTopic("subscribe", t); err != nil {
			return err
		}
	}
	cl, closeFn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, stop := signalContext()
	defer stop()
	stream, err := cl.Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: want, ResumeFrom: *resume, ResumeEpoch: *epoch})
	if err != nil {
		return callErr("subscribe", err)
	}
	for n := 0; *count == 0 || n < *count; {
		ev, err := stream.Recv()
		if err != nil {
			if isEOF(err) || ctx.Err() != nil {
				return nil
			}
			return callErr("subscribe", err)
		}
		if c.output == "json" {
			if err := printJSON(stdout, ev); err != nil {
				return err
			}
		} else if m := ev.GetMessage(); m != nil {
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%q\n", m.GetSequence(), m.GetMessageId(), m.GetTopic(), m.GetPayload())
		} else if g := ev.GetGap(); g != nil {
			fmt.Fprintf(stdout, "%d\tgap\t%s\tmissed %d messages for good, sequences %x to %x\n",
				g.GetSequence(), g.GetOrigin(), g.GetCount(), g.GetFirst(), g.GetLast())
		} else if r := ev.GetRestarted(); r != nil {
			fmt.Fprintf(stdout, "restarted\tresumed across an agent restart (epoch %d, now %d): unknown number of messages missed\n",
				r.GetPreviousEpoch(), r.GetEpoch())
		} else {
			fmt.Fprintf(stdout, "lagged\tmissed %d messages\n", ev.GetLagged().GetMissed())
		}
		if ev.GetMessage() != nil {
			n++
		}
	}
	return nil
}

// maxPayloadBytes is the largest payload any agent accepts, 512 KiB
// (-max-payload is at most this, and by default this): half a transport
// frame, leaving room for the envelope. The client refuses a larger
// payload before sending it, where gRPC's own message limit (4 MiB) would
// otherwise answer first with an error that does not name the agent's.
const maxPayloadBytes = transport.DefaultMaxFrameBytes / 2

// checkTopic refuses a topic that cannot be sent: gRPC requires strings to
// be valid UTF-8 and would fail to encode the request.
func checkTopic(op, topic string) error {
	if !utf8.ValidString(topic) {
		return fmt.Errorf("gossipd: %s: topic %q is not valid UTF-8 (%s)", op, topic, codes.InvalidArgument)
	}
	return nil
}

// listFlag is a flag that may be repeated, each value taken whole.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

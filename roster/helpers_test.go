package roster

import (
	"fmt"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

var t0 = time.Unix(1_000, 0)

// tb is what both *testing.T and *rapid.T provide.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
}

func addr(id peer.ID) string { return fmt.Sprintf("n%d", id) }

// newRoster returns node id's roster with incarnation inc and the default
// configuration but cfg's non-zero fields.
func newRoster(t tb, id peer.ID, inc uint64, cfg Config) *Roster {
	t.Helper()
	cfg.Incarnation = inc
	r, err := New(hyparview.Peer{ID: id, Addr: addr(id)}, nil, cfg)
	require.NoError(t, err)
	return r
}

// step steps r and fails the test on an error or a broken invariant.
func step(t tb, r *Roster, now time.Time, in Input) []Output {
	t.Helper()
	out, err := r.Step(now, in, nil)
	require.NoError(t, err)
	require.NoError(t, r.Invariants())
	return out
}

func receive(recs ...Record) Input { return Input{Kind: InputReceive, Records: recs} }

func rec(id peer.ID, s State, inc uint64) Record {
	return Record{ID: id, Addr: addr(id), Incarnation: inc, State: s}
}

func fire(t Timer) Input { return Input{Kind: InputTimer, Timer: t} }

func down(id peer.ID, reason hyparview.DownReason) Input {
	return Input{Kind: InputNeighborDown, Peer: hyparview.Peer{ID: id, Addr: addr(id)}, Reason: reason}
}

// ofKind returns the outputs of kind k.
func ofKind(out []Output, k OutputKind) []Output {
	var res []Output
	for _, o := range out {
		if o.Kind == k {
			res = append(res, o)
		}
	}
	return res
}

// events renders the events as "join 7:alive@3" lines.
func events(out []Output) []string {
	var res []string
	for _, o := range ofKind(out, OutputEvent) {
		res = append(res, o.Event.String()+" "+o.Record.String())
	}
	return res
}

// broadcasts returns the broadcast records.
func broadcasts(out []Output) []Record {
	var res []Record
	for _, o := range ofKind(out, OutputBroadcast) {
		res = append(res, o.Record)
	}
	return res
}

// timers returns the timers set.
func timers(out []Output) []Timer {
	var res []Timer
	for _, o := range ofKind(out, OutputSetTimer) {
		res = append(res, o.Timer)
	}
	return res
}

// formatOutput renders one output for traces.
func formatOutput(o Output) string {
	switch o.Kind {
	case OutputBroadcast:
		return "broadcast " + o.Record.String()
	case OutputEvent:
		return "event " + o.Event.String() + " " + o.Record.String()
	case OutputSetTimer:
		var b strings.Builder
		fmt.Fprintf(&b, "set timer %s", o.Timer.Kind)
		if o.Timer.Kind == TimerSuspicion {
			fmt.Fprintf(&b, " %d@%d", o.Timer.ID, o.Timer.Incarnation)
		}
		fmt.Fprintf(&b, " after %v", o.After)
		return b.String()
	}
	return o.Kind.String()
}

package protocol

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// EngineConfig configures both cores of an Engine. The zero value means the
// papers' defaults for both.
type EngineConfig struct {
	HyParView hyparview.Config
	Plumtree  plumtree.Config
}

// Validate reports the first impossible setting of either core.
func (c EngineConfig) Validate() error {
	if err := c.HyParView.Validate(); err != nil {
		return err
	}
	return c.Plumtree.Validate()
}

// Message is a protocol message of either core: a hyparview.Message or a
// plumtree.Message.
type Message any

// Layer names the core a timer belongs to.
type Layer uint8

// The layers of an Engine.
const (
	LayerHyParView Layer = iota + 1
	LayerPlumtree
)

// Timer is a timer of either core, tagged with its layer.
type Timer struct {
	Layer     Layer
	HyParView hyparview.Timer
	Plumtree  plumtree.Timer
}

// InputKind says which fields of an Input are set.
type InputKind uint8

// The inputs an Engine accepts.
const (
	// InputJoin starts the node and joins through Input.Contacts (none for
	// the first node of a cluster).
	InputJoin InputKind = iota + 1
	// InputLeave leaves the cluster gracefully.
	InputLeave
	// InputBroadcast disseminates Input.Payload to every node.
	InputBroadcast
	// InputReceive hands over Input.Msg received from Input.From.
	InputReceive
	// InputTimer reports that Input.Timer fired.
	InputTimer
	// InputConnectionFailed reports that the connection to Input.From failed
	// or could not be established.
	InputConnectionFailed
)

// Input is one event for Engine.Step.
type Input struct {
	Kind     InputKind
	From     hyparview.PeerID
	Msg      Message
	Timer    Timer
	Contacts []hyparview.Peer
	Payload  []byte
}

// OutputKind says which fields of an Output are set.
type OutputKind uint8

// The outputs an Engine produces.
const (
	// OutputSend asks the driver to send Output.Msg to Output.Peer, dialling
	// Peer.Addr if no connection is open (an empty Addr means: only over an
	// open connection).
	OutputSend OutputKind = iota + 1
	// OutputClose says the connection to Output.Peer is no longer needed once
	// the messages sent before it are flushed.
	OutputClose
	// OutputSetTimer asks the driver to fire Output.Timer after Output.After.
	OutputSetTimer
	// OutputDeliver hands Output.Delivery to the application.
	OutputDeliver
	// OutputNeighborUp reports that Output.Peer joined the active view.
	OutputNeighborUp
	// OutputNeighborDown reports that Output.Peer left the active view, for
	// Output.Reason.
	OutputNeighborDown
)

// Output is one action an Engine asks its driver to carry out.
type Output struct {
	Kind     OutputKind
	Peer     hyparview.Peer
	Msg      Message
	Timer    Timer
	After    time.Duration
	Delivery plumtree.Delivery
	Reason   hyparview.DownReason
}

// EngineCounters counts what the Engine itself drops; each core keeps its
// own counters.
type EngineCounters struct {
	// UnknownMessages counts received messages of neither core.
	UnknownMessages uint64
	// UnknownTimers counts timers with no valid layer.
	UnknownTimers uint64
}

// ErrUnknownInput is returned for an Input whose Kind is not one of the
// declared kinds.
var ErrUnknownInput = errors.New("protocol: unknown input kind")

// Engine is one node's HyParView and Plumtree cores, composed. It is pure
// and deterministic and must be driven by one goroutine at a time.
type Engine struct {
	hv       *hyparview.State
	pt       *plumtree.State
	counters EngineCounters
	hvOut    []hyparview.Output
	ptOut    []plumtree.Output
}

// NewEngine builds the engine of the node self. rng seeds both cores; the
// engine owns it afterwards.
func NewEngine(self hyparview.Peer, cfg EngineConfig, rng *rand.Rand) (*Engine, error) {
	if rng == nil {
		return nil, errors.New("protocol: nil random source")
	}
	hv, err := hyparview.New(self, cfg.HyParView, rng)
	if err != nil {
		return nil, err
	}
	pt, err := plumtree.New(plumtree.PeerID(self.ID), cfg.Plumtree, rng)
	if err != nil {
		return nil, err
	}
	return &Engine{hv: hv, pt: pt}, nil
}

// Step applies one input at time now and appends the resulting actions to
// out. An error reports local misuse (such as a payload over the limit); the
// outputs appended before the error are still valid.
func (e *Engine) Step(now time.Time, in Input, out []Output) ([]Output, error) {
	switch in.Kind {
	case InputJoin:
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: in.Contacts}, out)
	case InputLeave:
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputLeave}, out)
	case InputConnectionFailed:
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputConnectionFailed, From: in.From}, out)
	case InputBroadcast:
		return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputBroadcast, Payload: in.Payload}, out)
	case InputReceive:
		switch m := in.Msg.(type) {
		case hyparview.Message:
			return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputReceive, From: in.From, Msg: m}, out)
		case plumtree.Message:
			return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputReceive, Peer: plumtree.PeerID(in.From), Msg: m}, out)
		default:
			e.counters.UnknownMessages++
			return out, nil
		}
	case InputTimer:
		switch in.Timer.Layer {
		case LayerHyParView:
			return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputTimer, Timer: in.Timer.HyParView}, out)
		case LayerPlumtree:
			return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputTimer, Timer: in.Timer.Plumtree}, out)
		default:
			e.counters.UnknownTimers++
			return out, nil
		}
	default:
		return out, fmt.Errorf("%w: %d", ErrUnknownInput, in.Kind)
	}
}

// stepHyParView runs the membership core and routes its neighbour changes
// into the broadcast core.
func (e *Engine) stepHyParView(now time.Time, in hyparview.Input, out []Output) ([]Output, error) {
	// The scratch buffer is detached while in use, so a nested step (none
	// today) could not overwrite it.
	hvOut := e.hv.Step(now, in, e.hvOut[:0])
	e.hvOut = nil
	var err error
	for i := range hvOut {
		o := &hvOut[i]
		switch o.Kind {
		case hyparview.OutputSend:
			out = append(out, Output{Kind: OutputSend, Peer: o.Peer, Msg: o.Msg})
		case hyparview.OutputClose:
			out = append(out, Output{Kind: OutputClose, Peer: o.Peer})
		case hyparview.OutputSetTimer:
			out = append(out, Output{Kind: OutputSetTimer, After: o.After,
				Timer: Timer{Layer: LayerHyParView, HyParView: o.Timer}})
		case hyparview.OutputNeighborUp:
			out = append(out, Output{Kind: OutputNeighborUp, Peer: o.Peer})
			out, err = e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborUp, Peer: plumtree.PeerID(o.Peer.ID)}, out)
		case hyparview.OutputNeighborDown:
			out = append(out, Output{Kind: OutputNeighborDown, Peer: o.Peer, Reason: o.Reason})
			out, err = e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborDown, Peer: plumtree.PeerID(o.Peer.ID)}, out)
		}
		if err != nil {
			break
		}
	}
	e.hvOut = hvOut[:0]
	return out, err
}

// stepPlumtree runs the broadcast core and translates its outputs.
func (e *Engine) stepPlumtree(now time.Time, in plumtree.Input, out []Output) ([]Output, error) {
	ptOut, err := e.pt.Step(now, in, e.ptOut[:0])
	for i := range ptOut {
		o := &ptOut[i]
		switch o.Kind {
		case plumtree.OutputSend:
			out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: hyparview.PeerID(o.Peer)}, Msg: o.Msg})
		case plumtree.OutputDeliver:
			out = append(out, Output{Kind: OutputDeliver, Delivery: o.Delivery})
		case plumtree.OutputSetTimer:
			out = append(out, Output{Kind: OutputSetTimer, After: o.After,
				Timer: Timer{Layer: LayerPlumtree, Plumtree: o.Timer}})
		}
	}
	e.ptOut = ptOut[:0]
	return out, err
}

// HyParView gives read access to the membership core (views, counters,
// invariants). Callers must not step it directly.
func (e *Engine) HyParView() *hyparview.State { return e.hv }

// Plumtree gives read access to the broadcast core (push sets, counters,
// invariants). Callers must not step it directly.
func (e *Engine) Plumtree() *plumtree.State { return e.pt }

// Counters returns what the engine itself dropped.
func (e *Engine) Counters() EngineCounters { return e.counters }

// Invariants checks both cores, and that Plumtree's neighbours are exactly
// HyParView's active view.
func (e *Engine) Invariants() error {
	if err := e.hv.Invariants(); err != nil {
		return err
	}
	if err := e.pt.Invariants(); err != nil {
		return err
	}
	active := e.hv.Active()
	eager, lazy := e.pt.EagerPeers(), e.pt.LazyPeers()
	if len(eager)+len(lazy) != len(active) {
		return fmt.Errorf("protocol: %d active neighbours but %d eager + %d lazy peers",
			len(active), len(eager), len(lazy))
	}
	for _, p := range active {
		if !containsPeer(eager, plumtree.PeerID(p.ID)) && !containsPeer(lazy, plumtree.PeerID(p.ID)) {
			return fmt.Errorf("protocol: active neighbour %d is neither eager nor lazy", p.ID)
		}
	}
	return nil
}

func containsPeer(peers []plumtree.PeerID, id plumtree.PeerID) bool {
	for _, p := range peers {
		if p == id {
			return true
		}
	}
	return false
}

// Clone returns an independent copy of the engine whose HyParView core
// draws its random choices from rng: stepping either copy never affects the
// other. A simulator clones a stabilised overlay to run several experiments
// from it without building it again.
func (e *Engine) Clone(rng *rand.Rand) *Engine {
	return &Engine{hv: e.hv.Clone(rng), pt: e.pt.Clone(), counters: e.counters}
}

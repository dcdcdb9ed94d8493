package gossip

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// EngineConfig configures both cores of an Engine. The zero value means the
// papers' defaults for both.
type EngineConfig struct {
	HyParView hyparview.Config
	Plumtree  plumtree.Config
	// Members, when set, adds the full member list (see MembersConfig).
	// Nil, the default, runs the two cores alone, as the simulator's
	// experiments of the papers do.
	Members *MembersConfig
}

// Validate reports the first impossible setting of either core or of the
// member list.
func (c EngineConfig) Validate() error {
	if err := c.HyParView.Validate(); err != nil {
		return err
	}
	if err := c.Plumtree.Validate(); err != nil {
		return err
	}
	if c.Members != nil {
		return c.Members.Validate()
	}
	return nil
}

// Engine is one node's HyParView and Plumtree cores, composed. It is pure
// and deterministic and must be driven by one goroutine at a time.
type Engine struct {
	// The cores are held by value: a simulator steps thousands of engines
	// in turn, and each pointer less to follow is a cache miss less. The
	// first cache line holds what every delivery reads besides the
	// broadcast core (whether the member list is on) and the engine's
	// counters, 32 bytes each; the broadcast core starts on the second (a
	// test checks it starts at byte 64: pad here if those two change
	// size), so that a received payload reads the first lines of the
	// engine. Its outputs go through a scratch buffer on the stack
	// (scratchOutputs), not in the engine, for the same reason.
	members  // the member list, when EngineConfig.Members is set
	counters EngineCounters
	pt       plumtree.State
	hv       hyparview.State
	hvOut    []hyparview.Output
}

// scratchOutputs is how many outputs of one broadcast step fit in the
// stack buffer that receives them; more spill to the heap. A relay to a full
// active view with its delivery and timers fits.
const scratchOutputs = 8

// NewEngine builds the engine of the node self. rng seeds both cores; the
// engine owns it afterwards.
func NewEngine(self hyparview.Peer, cfg EngineConfig, rng *rand.Rand) (*Engine, error) {
	if rng == nil {
		return nil, errors.New("gossip: nil random source")
	}
	hv, err := hyparview.New(self, cfg.HyParView, rng)
	if err != nil {
		return nil, err
	}
	pt, err := plumtree.New(self.ID, cfg.Plumtree)
	if err != nil {
		return nil, err
	}
	e := &Engine{hv: *hv, pt: *pt}
	if cfg.Members != nil {
		if err := cfg.Members.Validate(); err != nil {
			return nil, err
		}
		if e.roster, err = roster.New(self, cfg.Members.Meta, cfg.Members.Roster); err != nil {
			return nil, err
		}
		e.rng = rng
		e.syncInterval = cmp.Or(cfg.Members.SyncInterval, DefaultSyncInterval)
	}
	return e, nil
}

// Step applies one input at time now and appends the resulting actions to
// out. An error reports local misuse (such as a payload over the limit); the
// outputs appended before the error are still valid.
func (e *Engine) Step(now time.Time, in Input, out []Output) ([]Output, error) {
	switch in.Kind {
	case InputJoin:
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: in.Contacts}, out)
	case InputLeave:
		if e.roster != nil && !e.roster.Left() {
			var err error
			if out, err = e.stepRoster(now, roster.Input{Kind: roster.InputLeave}, out); err != nil {
				return out, err
			}
			out = e.tellLeft(out)
		}
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputLeave}, out)
	case InputConnectionFailed:
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputConnectionFailed, From: in.From}, out)
	case InputBroadcast:
		if e.roster != nil {
			return e.broadcastApp(now, in.Topic, in.Payload, out)
		}
		return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputBroadcast, Payload: in.Payload}, out)
	case InputUpdateMeta, InputRejoin:
		if e.roster == nil {
			return out, errNoMembers
		}
		if in.Kind == InputRejoin {
			return e.rejoin(now, in.Contacts, out)
		}
		return e.stepRoster(now, roster.Input{Kind: roster.InputUpdateMeta, Meta: in.Meta}, out)
	case InputReceive:
		if g, ok := in.Msg.(*plumtree.Gossip); ok {
			// The most frequent message first, by a concrete type check
			// rather than an interface assertion.
			return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputReceive, Peer: in.From, Msg: g}, out)
		}
		switch m := in.Msg.(type) {
		case hyparview.Message:
			return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputReceive, From: in.From, Msg: m}, out)
		case plumtree.Message:
			return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputReceive, Peer: in.From, Msg: m}, out)
		case *Digest:
			return e.onDigest(in.From, m, out), nil
		case *Records:
			return e.onRecords(now, in.From, m, out)
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
		case LayerRoster:
			if e.roster != nil {
				return e.stepRoster(now, roster.Input{Kind: roster.InputTimer, Timer: in.Timer.Roster}, out)
			}
			e.counters.UnknownTimers++
			return out, nil
		case LayerMemberSync:
			if e.roster != nil {
				return e.sync(out), nil
			}
			e.counters.UnknownTimers++
			return out, nil
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
	// today) could not overwrite it. (The membership core keeps the buffer
	// during its step, so it cannot live on the stack.)
	hvOut := e.hv.Step(in, e.hvOut[:0])
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
			out, err = e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborUp, Peer: o.Peer.ID}, out)
			if err == nil && e.roster != nil {
				out, err = e.membersUp(now, o.Peer, out)
			}
		case hyparview.OutputNeighborDown:
			out = append(out, Output{Kind: OutputNeighborDown, Peer: o.Peer, Reason: o.Reason})
			out, err = e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborDown, Peer: o.Peer.ID}, out)
			if err == nil && e.roster != nil {
				out, err = e.stepRoster(now, roster.Input{Kind: roster.InputNeighborDown, Peer: o.Peer, Reason: o.Reason}, out)
			}
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
	var scratch [scratchOutputs]plumtree.Output
	ptOut, err := e.pt.Step(now, in, scratch[:0])
	return e.translatePlumtree(now, ptOut, out, err)
}

// ErrNotForPlumtreeAlone is returned by StepPlumtree for an input it must
// not take: any on an engine with the member list, whose deliveries Step
// unwraps, and neighbour changes, which come from HyParView.
var ErrNotForPlumtreeAlone = errors.New("gossip: input must go through Step")

// StepPlumtree runs one input of the broadcast core alone (a received
// Plumtree message or a Plumtree timer, as plumtree.Input) and appends the
// core's own outputs to out: what Step does with the same input, before
// it turns the outputs into the Engine's. It serves a caller that steps
// many engines and reads the core's outputs directly, the simulator; the
// outputs' peers are HyParView's PeerIDs, and a timer set is Step's
// Timer{Layer: LayerPlumtree}. On an engine with the member list, or for
// another kind of input, it returns ErrNotForPlumtreeAlone and changes
// nothing.
func (e *Engine) StepPlumtree(now time.Time, in plumtree.Input, out []plumtree.Output) ([]plumtree.Output, error) {
	if e.roster != nil || (in.Kind != plumtree.InputReceive && in.Kind != plumtree.InputTimer) {
		return out, ErrNotForPlumtreeAlone
	}
	return e.pt.Step(now, in, out)
}

// translatePlumtree turns the broadcast core's outputs into the engine's.
// With the member list on, a delivery is unwrapped (members.deliver), which
// may step the cores again (each step has its own scratch buffer).
func (e *Engine) translatePlumtree(now time.Time, ptOut []plumtree.Output, out []Output, err error) ([]Output, error) {
	for i := range ptOut {
		o := &ptOut[i]
		switch o.Kind {
		case plumtree.OutputSend:
			out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: o.Peer}, Msg: o.Msg})
		case plumtree.OutputDeliver:
			if e.roster != nil {
				out = e.deliver(now, o.Delivery, out)
				continue
			}
			out = append(out, Output{Kind: OutputDeliver, Delivery: o.Delivery})
		case plumtree.OutputSetTimer:
			out = append(out, Output{Kind: OutputSetTimer, After: o.After,
				Timer: Timer{Layer: LayerPlumtree, Plumtree: o.Timer}})
		}
	}
	return out, err
}

// HyParView gives read access to the membership core (views, counters,
// invariants). Callers must not step it directly.
func (e *Engine) HyParView() *hyparview.State { return &e.hv }

// Plumtree gives read access to the broadcast core (push sets, counters,
// invariants). Callers must not step it directly.
func (e *Engine) Plumtree() *plumtree.State { return &e.pt }

// Roster gives read access to the member list, nil unless
// EngineConfig.Members is set. Callers must not step it directly.
func (e *Engine) Roster() *roster.Roster { return e.roster }

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
	if e.roster != nil {
		if err := e.roster.Invariants(); err != nil {
			return err
		}
	}
	active := e.hv.Active()
	eager, lazy := e.pt.EagerPeers(), e.pt.LazyPeers()
	if len(eager)+len(lazy) != len(active) {
		return fmt.Errorf("gossip: %d active neighbours but %d eager + %d lazy peers",
			len(active), len(eager), len(lazy))
	}
	for _, p := range active {
		if !containsPeer(eager, p.ID) && !containsPeer(lazy, p.ID) {
			return fmt.Errorf("gossip: active neighbour %d is neither eager nor lazy", p.ID)
		}
	}
	return nil
}

func containsPeer(peers []peer.ID, id peer.ID) bool {
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
	c := &Engine{hv: *e.hv.Clone(rng), pt: *e.pt.Clone(), counters: e.counters}
	if e.roster != nil {
		c.members = members{roster: e.roster.Clone(), rng: rng, announced: e.announced, syncInterval: e.syncInterval}
	}
	return c
}

package roster

import (
	"strconv"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// InputKind names the kind of an Input. The zero value is not valid.
type InputKind uint8

const (
	// InputReceive hands over Records received through dissemination
	// (Plumtree delivered them).
	InputReceive InputKind = iota + 1
	// InputMerge hands over Records received through anti-entropy (the
	// answer to a Diff). They are applied by the same rules as
	// InputReceive; the kind only separates the counters.
	InputMerge
	// InputNeighborUp reports that Peer entered HyParView's active view.
	InputNeighborUp
	// InputNeighborDown reports that Peer left the active view, for Reason.
	InputNeighborDown
	// InputTimer reports that Timer fired.
	InputTimer
	// InputUpdateMeta replaces this node's metadata with Meta and raises
	// its incarnation.
	InputUpdateMeta
	// InputLeave records that this node leaves the cluster. Later inputs
	// are ignored.
	InputLeave
	// InputAnnounce broadcasts this node's current record unchanged: the
	// runtime steps it once after joining, so that the cluster learns of
	// the node without waiting for anti-entropy.
	InputAnnounce
	// InputSetRendezvous replaces what this node says about reaching it
	// (Rendezvous) and raises its incarnation when it changes; it needs
	// signatures (Config.Auth).
	InputSetRendezvous
)

// String returns a short lower-case name.
func (k InputKind) String() string {
	switch k {
	case InputReceive:
		return "receive"
	case InputMerge:
		return "merge"
	case InputNeighborUp:
		return "neighbor-up"
	case InputNeighborDown:
		return "neighbor-down"
	case InputTimer:
		return "timer"
	case InputUpdateMeta:
		return "update-meta"
	case InputLeave:
		return "leave"
	case InputAnnounce:
		return "announce"
	case InputSetRendezvous:
		return "set-rendezvous"
	}
	return "InputKind(" + strconv.Itoa(int(k)) + ")"
}

// Input is one event handed to Step. Which fields matter depends on Kind.
type Input struct {
	Kind    InputKind
	Records []Record             // Receive, Merge: applied in order
	Peer    hyparview.Peer       // NeighborUp, NeighborDown
	Reason  hyparview.DownReason // NeighborDown
	Timer   Timer                // Timer
	Meta    []byte               // UpdateMeta: copied, the caller keeps it
	// Rendezvous is SetRendezvous's.
	Rendezvous Rendezvous
	// Verified says that the driver checked every record's proof with
	// VerifyRecord and this roster's Config.Auth (Receive, Merge), as the
	// composition does for a broadcast before relaying it, so that Step
	// does not verify the signatures again.
	Verified bool
	// Doubtful marks a NeighborDown reported by a node that knows itself
	// unhealthy (its own timers ran late, it had to refute a suspicion of
	// itself: Lifeguard's local health, §IV-A): it may raise a suspicion,
	// but it confirms none (confirm.go), since a stalled node loses its
	// connections to members that are well.
	Doubtful bool
}

// OutputKind names the kind of an Output. The zero value is not valid.
type OutputKind uint8

const (
	// OutputBroadcast asks the runtime to disseminate Record to every node
	// (through Plumtree).
	OutputBroadcast OutputKind = iota + 1
	// OutputEvent tells the application that Record's member went through
	// the transition Event.
	OutputEvent
	// OutputSetTimer asks the driver to hand Timer back after After.
	OutputSetTimer
)

// String returns a short lower-case name.
func (k OutputKind) String() string {
	switch k {
	case OutputBroadcast:
		return "broadcast"
	case OutputEvent:
		return "event"
	case OutputSetTimer:
		return "set-timer"
	}
	return "OutputKind(" + strconv.Itoa(int(k)) + ")"
}

// Output is one action Step asks the driver to take. Which fields matter
// depends on Kind. Records in outputs own their Meta.
type Output struct {
	Kind   OutputKind
	Record Record        // Broadcast, Event
	Event  EventKind     // Event
	Timer  Timer         // SetTimer
	After  time.Duration // SetTimer
}

// EventKind names a transition of a member, as the application sees it. The
// zero value is not valid. Events are emitted once per transition of the
// record this node holds, never about this node itself.
type EventKind uint8

const (
	// EventJoin: a member became present (Alive or Suspect) — first seen,
	// or back from Failed or Left with a higher incarnation. A member
	// first seen as Suspect gets EventJoin then EventSuspect.
	EventJoin EventKind = iota + 1
	// EventUpdate: a present member's Addr or Meta changed, or its
	// suspicion was refuted (Suspect to Alive).
	EventUpdate
	// EventSuspect: a present member became Suspect.
	EventSuspect
	// EventFail: a present member was declared Failed.
	EventFail
	// EventLeave: a member left, whether it was present or already
	// declared Failed.
	EventLeave
)

// String returns a short lower-case name.
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventSuspect:
		return "suspect"
	case EventFail:
		return "fail"
	case EventLeave:
		return "leave"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// TimerKind names the purpose of a Timer. The zero value is not valid.
type TimerKind uint8

const (
	// TimerSuspicion ends the suspicion of member ID at Incarnation.
	TimerSuspicion TimerKind = iota + 1
	// TimerExpiry sweeps expired tombstones and silent members.
	TimerExpiry
	// TimerRefresh re-announces this node's record under a new
	// incarnation (Config.RefreshInterval).
	TimerRefresh
)

// String returns a short lower-case name.
func (k TimerKind) String() string {
	switch k {
	case TimerSuspicion:
		return "suspicion"
	case TimerExpiry:
		return "expiry"
	case TimerRefresh:
		return "refresh"
	}
	return "TimerKind(" + strconv.Itoa(int(k)) + ")"
}

// Timer identifies a timer set by an OutputSetTimer. Timers are never
// cancelled: one that fires late, twice, or after its purpose is gone does
// nothing. A suspicion timer is live while its member is still Suspect at
// its Incarnation; an expiry timer while its Nonce is the latest.
type Timer struct {
	Kind        TimerKind
	ID          peer.ID // Suspicion
	Incarnation uint64  // Suspicion
	Nonce       uint64  // Expiry
}

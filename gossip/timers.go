package gossip

import (
	"encoding/binary"
	"strconv"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Timer is a timer the engine asked its driver to set, handed back to
// TimerFired when it fires. It is a small opaque value (24 bytes) that
// carries what the timer is for, so that neither the engine nor the driver
// keeps a table of pending timers. Timers are never cancelled: one that
// fires late or twice, or after its purpose is gone, does nothing (each
// core checks), and the zero Timer is ignored and counted.
type Timer struct {
	kind TimerKind
	sub  uint8  // the core's own timer kind; a probe timeout's stage; a probe relay's nack (nack.go)
	a, b uint64 // HyParView: peer, nonce; Plumtree: the message ID; roster: member and incarnation, or nonce
}

// Kind says what the timer is for.
func (t Timer) Kind() TimerKind { return t.kind }

// Awaits returns the peer whose answer the timer bounds: for
// TimerNeighborRequest and TimerJoin, the peer asked. Such a timer counts
// from when the request left the node, which for a driver that must first
// connect to the peer (a QUIC handshake, an ICE negotiation) is when the
// connection is up, not when the engine asked for the send. So a driver
// that is still connecting to the peer when the timer fires holds it and
// sets it again, for its whole period, once the connection is up; if the
// connection fails it reports ConnectionFailed instead, and the held timer
// is stale. Counting the set-up in the timeout made every request time out
// when handshakes are slow (a loaded host): each timed-out request was
// undone and another peer asked, over another handshake, and the load
// grew until the overlay could not form (docs/benchmarks.md, "256 nodes").
// The simulator, whose messages leave at once, fires it as set.
func (t Timer) Awaits() (peer.ID, bool) {
	if t.kind == TimerNeighborRequest || t.kind == TimerJoin {
		return peer.ID(t.a), true
	}
	return 0, false
}

// NeighborRequest returns, for a TimerNeighborRequest, the peer asked and
// the link nonce of the NEIGHBOR request the timer bounds: a driver that
// sent the request as a datagram (Unreliable) tells by the nonce whether
// its answer has come, and if not sends it again over a connection and
// holds the timer as Awaits says.
func (t Timer) NeighborRequest() (to peer.ID, nonce uint64, ok bool) {
	if t.kind == TimerNeighborRequest {
		return peer.ID(t.a), t.b, true
	}
	return 0, 0, false
}

// TimerKind says what a timer is for.
type TimerKind uint8

// The engine's timers.
const (
	// TimerShuffle is HyParView's periodic shuffle and repair (S1 §4.4).
	TimerShuffle TimerKind = iota + 1
	// TimerNeighborRequest bounds the wait for an answer to NEIGHBOR.
	TimerNeighborRequest
	// TimerJoin bounds the wait for a contact's answer to JOIN.
	TimerJoin
	// TimerGraft is Plumtree's Timer(mID) (S2 Algorithm 2).
	TimerGraft
	// TimerDispatch ends an IHAVE batching window.
	TimerDispatch
	// TimerSuspicion ends the suspicion of a member.
	TimerSuspicion
	// TimerExpiry sweeps the member list's expired tombstones.
	TimerExpiry
	// TimerMemberSync is the member list's periodic anti-entropy.
	TimerMemberSync
	// TimerRejoin is the partition-healing tick.
	TimerRejoin
	// TimerRefresh re-announces this node's member record
	// (roster.Config.RefreshInterval).
	TimerRefresh
	// TimerProbe starts the probe of the next member (probe.go).
	TimerProbe
	// TimerProbeTimeout ends a stage of the current probe.
	TimerProbeTimeout
	// TimerProbeRelay ends an indirect probe carried out for a peer.
	TimerProbeRelay
	// TimerWithheld ends the wait of an event withheld on evidence of
	// life (evidence.go).
	TimerWithheld
	// TimerGaps reports the holes of the gap detector whose grace has run
	// out (Config.Gaps).
	TimerGaps
	// TimerViews ends the wait for one member's answer to a
	// ViewsRequest (overlay.go).
	TimerViews
	// TimerReach ends the wait for the answer to a ReachRequest
	// (reach.go).
	TimerReach
)

// String returns a short lower-case name.
func (k TimerKind) String() string {
	switch k {
	case TimerShuffle:
		return "shuffle"
	case TimerNeighborRequest:
		return "neighbor-request"
	case TimerJoin:
		return "join"
	case TimerGraft:
		return "graft"
	case TimerDispatch:
		return "dispatch"
	case TimerSuspicion:
		return "suspicion"
	case TimerExpiry:
		return "expiry"
	case TimerMemberSync:
		return "member-sync"
	case TimerRejoin:
		return "rejoin"
	case TimerRefresh:
		return "refresh"
	case TimerProbe:
		return "probe"
	case TimerProbeTimeout:
		return "probe-timeout"
	case TimerProbeRelay:
		return "probe-relay"
	case TimerWithheld:
		return "withheld"
	case TimerGaps:
		return "gaps"
	case TimerViews:
		return "views"
	case TimerReach:
		return "reach"
	}
	return "TimerKind(" + strconv.Itoa(int(k)) + ")"
}

func hyparviewTimer(t hyparview.Timer) Timer {
	k := TimerKind(0)
	if int(t.Kind) < len(hyparviewKinds) {
		k = hyparviewKinds[t.Kind]
	}
	return Timer{kind: k, sub: uint8(t.Kind), a: uint64(t.Peer), b: t.Nonce}
}

var hyparviewKinds = [...]TimerKind{hyparview.TimerShuffle: TimerShuffle, hyparview.TimerNeighborRequest: TimerNeighborRequest, hyparview.TimerJoin: TimerJoin}

func plumtreeTimer(t plumtree.Timer) Timer {
	k := TimerGraft
	if t.Kind == plumtree.TimerDispatch {
		k = TimerDispatch
	}
	return Timer{kind: k, sub: uint8(t.Kind), a: binary.BigEndian.Uint64(t.ID[:8]), b: binary.BigEndian.Uint64(t.ID[8:])}
}

func rosterTimer(t roster.Timer) Timer {
	switch t.Kind {
	case roster.TimerSuspicion:
		return Timer{kind: TimerSuspicion, sub: uint8(t.Kind), a: uint64(t.ID), b: t.Incarnation}
	case roster.TimerRefresh:
		return Timer{kind: TimerRefresh, sub: uint8(t.Kind)}
	}
	return Timer{kind: TimerExpiry, sub: uint8(t.Kind), b: t.Nonce}
}

func (t Timer) hyparview() hyparview.Timer {
	return hyparview.Timer{Kind: hyparview.TimerKind(t.sub), Peer: peer.ID(t.a), Nonce: t.b}
}

func (t Timer) plumtree() plumtree.Timer {
	pt := plumtree.Timer{Kind: plumtree.TimerKind(t.sub)}
	binary.BigEndian.PutUint64(pt.ID[:8], t.a)
	binary.BigEndian.PutUint64(pt.ID[8:], t.b)
	return pt
}

func (t Timer) roster() roster.Timer {
	if t.kind == TimerSuspicion {
		return roster.Timer{Kind: roster.TimerKind(t.sub), ID: peer.ID(t.a), Incarnation: t.b}
	}
	return roster.Timer{Kind: roster.TimerKind(t.sub), Nonce: t.b}
}

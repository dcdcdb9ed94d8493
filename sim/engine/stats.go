package engine

import (
	"math"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// Stats counts what happened in a run.
type Stats struct {
	Events            uint64 // events processed
	Cycles            uint64 // membership rounds run by Cycle
	Crashes           uint64
	MessagesSent      uint64 // every message handed to the network
	MessagesDelivered uint64 // messages that reached a live node
	MessagesDropped   uint64 // to a crashed, unknown or partitioned node, or by the hook
	MessagesLost      uint64 // lost by the random loss model
	PayloadSent       uint64 // Plumtree GOSSIP messages (payload-carrying)
	ControlSent       uint64 // Plumtree IHAVE, GRAFT and PRUNE
	MembershipSent    uint64 // HyParView messages
	Deliveries        uint64 // payloads delivered to applications, origins included
	NeighborUps       uint64
	NeighborDowns     uint64
}

func (st *Stats) countSend(msg gossip.Message) {
	st.MessagesSent++
	switch msg.(type) {
	case *plumtree.Gossip:
		st.PayloadSent++
	case plumtree.Message:
		st.ControlSent++
	case hyparview.Message:
		st.MembershipSent++
	}
}

// Broadcast is what the run observed of one broadcast message.
type Broadcast struct {
	ID plumtree.MessageID
	// Origin is the node that broadcast it.
	Origin int
	// Start is the virtual time of the broadcast.
	Start time.Duration
	// LiveAtStart is the number of running nodes when it was broadcast:
	// the denominator of reliability (S1 §2.5, S2 §2.3).
	LiveAtStart int
	// Delivered is the number of nodes that delivered it, the origin
	// included.
	Delivered int
	// PayloadSent is the number of GOSSIP messages that carried it: the m
	// of RMR.
	PayloadSent int
	// LastHop is the largest hop count of a delivery: the Last Delivery Hop
	// (S2 §2.3).
	LastHop uint32
	// LastDelivery is the time from Start to the last delivery.
	LastDelivery time.Duration
}

// Reliability is the share of the nodes live at the start that delivered
// the message, in [0, 1] (S1 §2.5).
func (b Broadcast) Reliability() float64 {
	if b.LiveAtStart == 0 {
		return 0
	}
	return math.Min(1, float64(b.Delivered)/float64(b.LiveAtStart))
}

// RMR is the Relative Message Redundancy m/(n−1) − 1 (S2 §2.3), NaN when
// fewer than two nodes delivered.
func (b Broadcast) RMR() float64 {
	if b.Delivered < 2 {
		return math.NaN()
	}
	return float64(b.PayloadSent)/float64(b.Delivered-1) - 1
}

// broadcasts records every broadcast of a run, in the order they started.
type broadcasts struct {
	list []Broadcast
	byID map[plumtree.MessageID]int
	// lastID and last are the most recently recorded broadcast: a run
	// records each message's sends and deliveries one after another.
	lastID plumtree.MessageID
	last   int
}

func newBroadcasts() broadcasts {
	return broadcasts{byID: make(map[plumtree.MessageID]int), last: -1}
}

// started records that node n broadcast id at now, with live nodes
// running; the run then carries out the broadcast's batch, its own
// delivery included.
func (b *broadcasts) started(id plumtree.MessageID, n int, now time.Duration, live int) {
	r := b.record(id)
	r.Origin, r.Start, r.LiveAtStart = n, now, live
}

// record returns the entry of id, creating it on first sight.
func (b *broadcasts) record(id plumtree.MessageID) *Broadcast {
	if b.last >= 0 && b.lastID == id {
		return &b.list[b.last]
	}
	i, ok := b.byID[id]
	if !ok {
		i = len(b.list)
		b.byID[id] = i
		b.list = append(b.list, Broadcast{ID: id, Origin: -1})
	}
	b.lastID, b.last = id, i
	return &b.list[i]
}

func (b *broadcasts) payloadSent(id plumtree.MessageID) { b.record(id).PayloadSent++ }

func (b *broadcasts) delivered(n int, d *gossip.Delivery, now time.Duration) {
	r := b.record(d.ID)
	r.Delivered++
	if d.Hops > r.LastHop {
		r.LastHop = d.Hops
	}
	if lat := now - r.Start; lat > r.LastDelivery {
		r.LastDelivery = lat
	}
}

// Broadcasts returns every broadcast observed so far, in the order they
// started. The slice is the run's own: read it, do not keep it across
// further steps.
func (s *Sim) Broadcasts() []Broadcast { return s.bcasts.list }

// BroadcastByID returns the record of one broadcast.
func (s *Sim) BroadcastByID(id plumtree.MessageID) (Broadcast, bool) {
	i, ok := s.bcasts.byID[id]
	if !ok {
		return Broadcast{}, false
	}
	return s.bcasts.list[i], true
}

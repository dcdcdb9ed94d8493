package gossip

import (
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Islands: a probe tells a node it is cut off from the broadcasts.
// HyParView can leave a few nodes whose active views are full of each
// other, a closed island (hyparview/doc.go, deviation 7): it looks like a
// small healthy cluster from inside, its members still answer every
// liveness probe, and nothing it or the rest of the cluster broadcasts
// crosses to the other side; only a random refresh, rare by design,
// ever breaks it (measured in the simulator's member-list experiment at
// 150 nodes with the joins spaced: four nodes missed a metadata change
// for 75 s). The liveness probes cross any island, since they go to
// random members. So every Ping carries a mark: a broadcast its sender
// delivered at least IslandCheckAge ago (an application broadcast by ID,
// a member record by member, incarnation and state), with its age. A
// node that receives a mark it should hold by now and does not (not
// delivered, and for a record, no record as new in its member list) was
// not on the broadcast's tree: it asks the pinger for a link with high
// priority (hyparview.InputContact), at most once per RejoinInterval, and
// the anti-entropy of that new link repairs what it missed (Plumtree's
// NeighborUpAnnouncements, the member-list digest, heads). A pinger inside
// an island is caught the same way by the members it pings outside.
//
// A mark proves nothing and needs no signature: the worst a lying pinger
// gets is a high-priority link to itself, which any member can ask for
// anyway (HyParView's high-priority NEIGHBOR), once per RejoinInterval per
// node.

// Mark is a broadcast the sender of a Ping delivered AgeMillis
// milliseconds before sending it: an application broadcast (Msg), or a
// member record (Member, Incarnation, State).
type Mark struct {
	Msg         *plumtree.MessageID
	Member      peer.ID
	Incarnation uint64
	State       roster.State
	AgeMillis   uint32
}

// DefaultIslandCheckAge is MembersConfig.IslandCheckAge's default: 5 s,
// several times the time a broadcast takes to reach every node of a
// 10,000-node cluster in the simulator (a few hundred milliseconds, lazy
// repairs included), so that a broadcast still spreading is not taken for
// one missed.
const DefaultIslandCheckAge = 5 * time.Second

// islandMarks is how many recent deliveries a node keeps to choose a mark
// from; one is kept per quarter of IslandCheckAge at most, so they span
// at least twice that age.
const islandMarks = 8

// markAt is a delivery kept as a possible mark, with its time (Unix
// nanoseconds): an application broadcast's ID (isMsg), or a record's
// member, incarnation and state.
type markAt struct {
	msg         plumtree.MessageID
	isMsg       bool
	member      peer.ID
	incarnation uint64
	state       roster.State
	at          int64
}

// islands is the state of the island check, kept with the liveness state.
type islands struct {
	age    time.Duration // <= 0: off
	latest markAt        // the last delivery
	ring   [islandMarks]markAt
	n, pos int // entries in ring; next slot
	// connectedSince is when this node first had a neighbour (Unix
	// nanoseconds; 0: never): it cannot have missed what was delivered
	// before it joined.
	connectedSince int64
	// nextContact is the earliest time of the next link this check may
	// ask for.
	nextContact int64
}

// noteMarkableBroadcast records the delivery of an application broadcast
// as the latest candidate mark.
func (e *Engine) noteMarkableBroadcast(now time.Time, id plumtree.MessageID) {
	if l := e.live; l != nil && l.islands.age > 0 {
		l.islands.latest = markAt{msg: id, isMsg: true, at: now.UnixNano()}
	}
}

// noteMarkableRecord records the delivery of a member record as the latest
// candidate mark.
func (e *Engine) noteMarkableRecord(now time.Time, r *roster.Record) {
	if l := e.live; l != nil && l.islands.age > 0 {
		l.islands.latest = markAt{member: r.ID, incarnation: r.Incarnation, state: r.State, at: now.UnixNano()}
	}
}

// noteConnected records the first neighbour up.
func (e *Engine) noteConnected(now time.Time) {
	if l := e.live; l != nil && l.islands.connectedSince == 0 {
		l.islands.connectedSince = now.UnixNano()
	}
}

// keepMark moves the latest delivery into the ring of candidate marks
// (each probe tick). The newest entry follows the latest delivery until it
// is a quarter of the check age after the entry before it; the next
// delivery then starts a new entry. So the entries before the newest lie
// at least that far apart, the ring spans more than the check age, and
// the last delivery is never skipped.
func (is *islands) keepMark(now time.Time) {
	if is.age <= 0 || is.latest.at == 0 {
		return
	}
	last := (is.pos + islandMarks - 1) % islandMarks
	switch {
	case is.n > 0 && is.ring[last].at == is.latest.at:
		return
	case is.n >= 2 && is.ring[last].at-is.ring[(last+islandMarks-1)%islandMarks].at < int64(is.age/4):
		is.ring[last] = is.latest
		return
	}
	is.ring[is.pos] = is.latest
	is.pos = (is.pos + 1) % islandMarks
	is.n = min(is.n+1, islandMarks)
}

// markToSend returns the newest kept delivery at least the check age old
// and at most maxAge, with its age; nil when there is none.
func (is *islands) markToSend(now time.Time, maxAge time.Duration) *Mark {
	if is.age <= 0 {
		return nil
	}
	for i := 1; i <= is.n; i++ {
		k := is.ring[(is.pos+islandMarks-i)%islandMarks]
		age := time.Duration(now.UnixNano() - k.at)
		if age < is.age {
			continue
		}
		if age > maxAge {
			return nil
		}
		m := &Mark{AgeMillis: uint32(age / time.Millisecond)}
		if k.isMsg {
			id := k.msg
			m.Msg = &id
		} else {
			m.Member, m.Incarnation, m.State = k.member, k.incarnation, k.state
		}
		return m
	}
	return nil
}

// markMaxAge is the oldest mark worth sending or checking: half of how
// long a delivered ID is remembered (plumtree.Config.SeenRetention), so
// that the receiver has not forgotten it either, and no older than a
// payload is kept while something fails (PayloadRetention), so that the
// link it asks for can still bring it. While nothing fails the pinger
// holds a payload only CalmPayloadRetention (plumtree/doc.go, deviation
// 16): an island found with an older mark gets its link, and the
// broadcasts no longer held reach its applications as gap notices.
func (e *Engine) markMaxAge() time.Duration {
	c := e.pt.Config()
	return min(c.SeenRetention/2, c.PayloadRetention)
}

// checkMark looks at the mark of a Ping from a member: if this node should
// hold what it names by now and does not, it is cut off from the pinger's
// broadcasts, and it asks the pinger for a link.
func (e *Engine) checkMark(now time.Time, from peer.ID, m *Mark, out *Ready) {
	l := e.live
	if m == nil || l == nil || l.islands.age <= 0 {
		return
	}
	is := &l.islands
	age := time.Duration(m.AgeMillis) * time.Millisecond
	if age < is.age || age > e.markMaxAge() || is.connectedSince == 0 ||
		now.UnixNano()-is.connectedSince < int64(age) {
		// Still spreading, forgotten, or delivered before this node had
		// a neighbour (a broadcast still spreading when it got its first
		// one is announced to it: NeighborUpAnnouncements).
		return
	}
	if since, ok := e.pt.SeenSince(); ok && since.After(now.Add(-age-is.age)) {
		// This node may have forgotten it: its history of delivered IDs,
		// bounded in count (plumtree.Config.MaxSeenIDs), starts after the
		// pinger delivered it (a grace of the check age for the spread).
		return
	}
	if e.holdsMark(m) {
		return
	}
	e.count().IslandMarksMissed++
	if e.hv.IsActive(from) || e.hv.IsPending(from) || now.UnixNano() < is.nextContact {
		return
	}
	r, ok := e.roster.Get(from)
	if !ok || r.State != roster.StateAlive || r.Addr == "" {
		return
	}
	is.nextContact = now.UnixNano() + int64(e.rejoinInterval)
	e.count().IslandContacts++
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{{ID: r.ID, Addr: r.Addr}}}, out)
}

// holdsMark reports whether this node delivered the broadcast a mark
// names or, for a record, holds one of the member at least as new.
func (e *Engine) holdsMark(m *Mark) bool {
	if m.Msg != nil {
		return e.pt.Seen(*m.Msg)
	}
	if m.Member == e.roster.Self() {
		return true // about this node: it knows best
	}
	r, ok := e.roster.Get(m.Member)
	if !ok {
		return false
	}
	if r.Incarnation != m.Incarnation {
		return r.Incarnation > m.Incarnation
	}
	return r.State >= m.State
}

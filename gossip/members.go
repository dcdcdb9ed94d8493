package gossip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// MembersConfig turns on the full member list (package roster) on top of
// the two cores:
//
//   - every Plumtree payload is an Envelope: an application message with
//     its topic, or member records;
//   - member records are broadcast under a content-derived ID
//     (plumtree.ContentHashID of the envelope), so the identical Failed
//     declarations that many nodes make deduplicate;
//   - HyParView's neighbour up and down feed the roster (suspicion on a
//     failed connection); on neighbour up the two nodes exchange digests
//     (Digest, Records) and pull the records they miss, and the first
//     neighbour up makes the node announce its own record;
//   - every SyncInterval or so a node sends its digest to a random active
//     neighbour as well;
//   - InputRejoin heals partitions (see rejoin).
type MembersConfig struct {
	Roster roster.Config
	// Meta is this node's initial metadata.
	Meta []byte
	// SyncInterval is the mean time between two anti-entropy exchanges of
	// a node with a random active neighbour, besides the exchange on every
	// new link (each interval is drawn between half and one and a half
	// times it). Without them, a record that a node learned by
	// anti-entropy after its neighbours' links were made, or whose
	// broadcast missed it (a burst of joins, when each node has one or two
	// neighbours), stays unknown to them until a new link forms, which a
	// stable overlay may never do. Zero means DefaultSyncInterval; it must
	// not be negative.
	SyncInterval time.Duration
}

// DefaultNeighborUpAnnouncements is the Plumtree NeighborUpAnnouncements
// that goes with the member list (the runtime sets it): how many recent
// broadcasts a node announces to a new neighbour, a guess that covers a
// partition of a few seconds at a few hundred broadcasts per second while
// costing 16 IHaves per new link. Member records are broadcasts too, so
// this also repairs the ones a new neighbour missed.
const DefaultNeighborUpAnnouncements = 1024

// DefaultSyncInterval is MembersConfig.SyncInterval's default: 30 s, the
// push-pull interval of HashiCorp memberlist's LAN configuration.
const DefaultSyncInterval = 30 * time.Second

// Validate reports an impossible setting of the member list.
func (c *MembersConfig) Validate() error {
	if c.SyncInterval < 0 {
		return fmt.Errorf("gossip: negative SyncInterval %v", c.SyncInterval)
	}
	return c.Roster.Validate()
}

// members is the Engine's member-list state.
type members struct {
	roster       *roster.Roster
	rng          *rand.Rand
	announced    bool          // our record was broadcast once we had a neighbour
	syncInterval time.Duration // MembersConfig.SyncInterval, defaulted
}

var errNoMembers = errors.New("gossip: the member list is off (EngineConfig.Members)")

// broadcastApp wraps an application message in an Envelope and broadcasts
// it.
func (e *Engine) broadcastApp(now time.Time, topic string, data []byte, out []Output) ([]Output, error) {
	if len(topic) > MaxTopicBytes {
		return out, fmt.Errorf("gossip: topic of %d bytes exceeds %d", len(topic), MaxTopicBytes)
	}
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: topic, Data: data})
	if err != nil {
		return out, err
	}
	return e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputBroadcast, Payload: b}, out)
}

// deliver unwraps a delivered Envelope: application data goes to the
// driver with its topic, member records into the roster (except our own
// broadcasts, which the roster already holds).
func (e *Engine) deliver(now time.Time, d plumtree.Delivery, out []Output) []Output {
	env, err := DecodeEnvelope(d.Payload)
	if err != nil {
		e.counters.MalformedPayloads++
		return out
	}
	if env.Kind == EnvelopeApp {
		d.Payload = env.Data
		return append(out, Output{Kind: OutputDeliver, Delivery: d, Topic: env.Topic})
	}
	if d.From == e.pt.Self() {
		return out
	}
	out, _ = e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: env.Records}, out)
	return out
}

// stepRoster runs the member list and translates its outputs.
func (e *Engine) stepRoster(now time.Time, in roster.Input, out []Output) ([]Output, error) {
	rsOut, err := e.roster.Step(now, in, nil)
	for i := range rsOut {
		o := &rsOut[i]
		switch o.Kind {
		case roster.OutputBroadcast:
			out = e.broadcastRecord(now, o.Record, out)
		case roster.OutputEvent:
			out = append(out, Output{Kind: OutputEvent, Event: o.Event, Record: o.Record})
		case roster.OutputSetTimer:
			out = append(out, Output{Kind: OutputSetTimer, After: o.After, Timer: Timer{Layer: LayerRoster, Roster: o.Timer}})
		}
	}
	return out, err
}

// broadcastRecord disseminates one record under its content-derived ID. A
// record already delivered (the same declaration made by another node) is
// not sent again.
func (e *Engine) broadcastRecord(now time.Time, rec roster.Record, out []Output) []Output {
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: []roster.Record{rec}})
	if err != nil {
		return out // records are plain data: encoding cannot fail
	}
	var scratch [scratchOutputs]plumtree.Output
	ptOut, err := e.pt.BroadcastID(now, plumtree.ContentHashID(b), b, scratch[:0])
	out, _ = e.translatePlumtree(now, ptOut, out, err)
	return out
}

// membersUp tells the roster of a new neighbour, announces our record on
// the first one, and starts anti-entropy by sending our digest.
func (e *Engine) membersUp(now time.Time, p hyparview.Peer, out []Output) ([]Output, error) {
	if e.roster.Left() {
		return out, nil
	}
	out, err := e.stepRoster(now, roster.Input{Kind: roster.InputNeighborUp, Peer: p}, out)
	if err == nil && !e.announced {
		e.announced = true
		out, err = e.stepRoster(now, roster.Input{Kind: roster.InputAnnounce}, out)
		out = e.armSync(out)
	}
	return e.sendDigest(p.ID, out), err
}

// sendDigest starts an anti-entropy exchange with a neighbour: our digest,
// which it answers with the records we lack and the IDs it wants.
func (e *Engine) sendDigest(to peer.ID, out []Output) []Output {
	for _, c := range roster.Chunks(e.roster.Digest(), MaxDigestEntries) {
		out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: to}, Msg: &Digest{From: c.From, To: c.To, Entries: c.Entries}})
	}
	return out
}

// armSync sets the timer of the next periodic anti-entropy exchange.
func (e *Engine) armSync(out []Output) []Output {
	after := e.syncInterval/2 + time.Duration(e.rng.Int64N(int64(e.syncInterval)))
	return append(out, Output{Kind: OutputSetTimer, After: after, Timer: Timer{Layer: LayerMemberSync}})
}

// sync is the periodic anti-entropy exchange: our digest to a random
// active neighbour, then the next timer. A node that left stops.
func (e *Engine) sync(out []Output) []Output {
	if e.roster.Left() {
		return out
	}
	e.counters.MemberSyncs++
	if active := e.hv.Active(); len(active) > 0 {
		out = e.sendDigest(active[e.rng.IntN(len(active))].ID, out)
	}
	return e.armSync(out)
}

// onDigest answers a neighbour's digest chunk with the records it lacks
// and the IDs we want from it.
func (e *Engine) onDigest(from peer.ID, d *Digest, out []Output) []Output {
	if e.roster.Left() {
		return out
	}
	send, want := e.roster.DiffChunk(roster.DigestChunk{From: d.From, To: d.To, Entries: d.Entries})
	return sendRecords(from, send, want, out)
}

// onRecords merges the records a neighbour sent and answers its want list.
func (e *Engine) onRecords(now time.Time, from peer.ID, m *Records, out []Output) ([]Output, error) {
	if e.roster.Left() {
		return out, nil
	}
	if len(m.Want) > 0 {
		out = sendRecords(from, e.roster.AppendRecords(nil, m.Want), nil, out)
	}
	if len(m.Records) == 0 {
		return out, nil
	}
	out, err := e.stepRoster(now, roster.Input{Kind: roster.InputMerge, Records: m.Records}, out)
	for _, r := range m.Records {
		if r.ID == from && r.State == roster.StateLeft {
			out = e.broadcastRecord(now, r, out) // see tellLeft
		}
	}
	return out, err
}

// tellLeft sends our Left record to every neighbour directly, besides
// broadcasting it: a neighbour relays it as a broadcast under the same
// content-derived ID, so the cluster learns of the leave even when our
// own broadcast reached no eager peer that is still alive, and copies
// deduplicate.
func (e *Engine) tellLeft(out []Output) []Output {
	rec := e.roster.Record()
	for _, p := range e.hv.Active() {
		out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: p.ID}, Msg: &Records{Records: []roster.Record{rec}}})
	}
	return out
}

// sendRecords sends recs and want to a peer in messages within
// MaxRecordsPerMessage.
func sendRecords(to peer.ID, recs []roster.Record, want []peer.ID, out []Output) []Output {
	for len(recs) > 0 || len(want) > 0 {
		m := &Records{}
		n := min(len(recs), MaxRecordsPerMessage)
		m.Records, recs = recs[:n:n], recs[n:]
		k := min(len(want), MaxRecordsPerMessage)
		m.Want, want = want[:k:k], want[k:]
		out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: to}, Msg: m})
	}
	return out
}

// rejoin is the partition-healing tick. An isolated node joins again
// through contacts (the seeds, freshly resolved by the driver). A connected
// node whose member list holds members it has no path to — Suspect or
// Failed, not Left — asks one of them or one seed, chosen at random, to
// become a neighbour with high priority: if the two sides of a partition
// can reach each other again, one such link joins the overlays, and the
// anti-entropy of its neighbour-up repairs broadcasts and records (a
// member declared Failed while cut off then refutes). Serf retries failed
// members in the same spirit (its reconnect interval); a member that
// really died costs one failed dial per tick somewhere in the cluster
// until its tombstone expires.
func (e *Engine) rejoin(now time.Time, contacts []hyparview.Peer, out []Output) ([]Output, error) {
	if e.roster.Left() {
		return out, nil
	}
	if len(e.hv.Active()) == 0 {
		return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: contacts}, out)
	}
	var lost []hyparview.Peer
	self := e.roster.Self()
	for _, r := range e.roster.Members() {
		if r.ID != self && (r.State == roster.StateSuspect || r.State == roster.StateFailed) && !e.hv.IsActive(r.ID) {
			lost = append(lost, hyparview.Peer{ID: r.ID, Addr: r.Addr})
		}
	}
	if len(lost) == 0 {
		return out, nil
	}
	for _, c := range contacts {
		if c.ID != self && !e.hv.IsActive(c.ID) {
			lost = append(lost, c)
		}
	}
	pick := lost[e.rng.IntN(len(lost))]
	return e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{pick}}, out)
}

package gossip

import (
	"slices"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// Nacks: whose fault is a failed probe? A probe that nobody answers,
// directly or through neighbours, says either that the member is dead or
// that this node could not hear the answers in time (a starved host, a
// paused process). Lifeguard (A. Dadgar, J. Phillips, J. Currey, 2018,
// §IV-A) tells the two apart: the prober asks its relays (the neighbours
// a PingReq goes to) for a negative answer, a nack, when the target stays
// silent for most of their wait. A relay's nack that arrives shows this
// node hearing its neighbours in time: the silence is the target's. A
// failed probe with no nack at all is a sign of this node's own trouble,
// and its local health score rises by one (health.go), as it does for a
// failed probe with no relay to ask. Lifeguard raises the score by one
// for each missing nack; here one nack is enough to clear the prober,
// because a relay may be dead itself: when a tenth of 2,000 simulated
// nodes crashed at once, a score raised for every dead relay slowed the
// survivors' probes and confirmations, and the last crashed node was
// failed everywhere after 10.9 s instead of 6.2 s (`go run ./sim
// -scenario members -nodes 2000`). So during a partition, whose other
// side no probe reaches, the relays of this side nack and the probers
// keep their score; in a starved process, where the relays are as late
// as the prober, failed probes raise it, the probes slow down
// (scaledProbeInterval) and the node's own losses stop confirming
// suspicions. An unhealthy node's failed probe suspects a member listed
// alive only when every relay asked nacked: then the relays, not this
// node alone, found the member silent. Otherwise the failure is doubted
// and counted (Counters.LossesDoubted), as its lost connections are
// (probe.go's checkLostSuspect): before, 512 nodes in one process on two
// cores, unhealthy all, raised more than a thousand suspicions at the
// join, each a signed broadcast all nodes checked.
//
// A relay nacks at its own probe timeout after the PingReq, half of the
// wait the prober gives its relays (twice its probe timeout, scaled), and
// keeps waiting for the target until that wait is over: an Ack after
// the nack still answers the probe. A relay of an earlier version reads
// no PingReq.Nack and never nacks: when no other relay does, the failed
// probe counts as this node's trouble, as one without nacks does in
// Lifeguard.

// relayNackDue is the sub-kind of the TimerProbeRelay that nacks a
// relayed probe still unanswered; the one that gives it up has 0.
const relayNackDue uint8 = 1

// relayNack sends the requester a nack if the target has not answered
// the relayed ping yet, and waits one more probe timeout for it.
func (e *Engine) relayNack(t Timer, out *Ready) {
	l := e.live
	r, ok := l.relays[t.b]
	if !ok || !r.nack {
		return // answered already
	}
	e.counters.NacksSent++
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: r.requester}, Msg: &Ack{Nonce: r.nonce, Nack: true}})
	e.setTimer(Timer{kind: TimerProbeRelay, a: t.a, b: t.b}, l.timeout, out)
}

// onNack counts a relay's nack of the current probe, once per relay
// asked; any other is stale.
func (e *Engine) onNack(from peer.ID, m *Ack) {
	l := e.live
	i := slices.Index(l.unnacked, from)
	if l.stage != probeIndirect || m.Nonce != l.nonce || i < 0 {
		e.counters.StaleAcks++
		return
	}
	l.unnacked = slices.Delete(l.unnacked, i, i+1)
	e.counters.NacksReceived++
}

// allNacked reports whether every relay asked for the current probe
// nacked it (and one was asked at least): they could not reach the target
// either, which an unhealthy node may take as its relays' word, not its
// own.
func (e *Engine) allNacked() bool {
	return e.live.asked > 0 && len(e.live.unnacked) == 0
}

// scoreFailedProbe raises the health score by one for a probe that
// failed with no relay's nack, or with no relay to ask.
func (e *Engine) scoreFailedProbe() {
	l := e.live
	if l.asked == 0 || len(l.unnacked) == l.asked {
		e.raiseHealthScore()
	}
	l.unnacked, l.asked = l.unnacked[:0], 0
}

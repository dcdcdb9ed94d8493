package gossip

import (
	"fmt"
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
// nack that does not arrive is a sign of this node's own trouble, and
// Lifeguard raises the local health score (health.go) by one for each.
//
// Here one nack is enough to clear the prober, because a relay may be
// dead itself: when a tenth of 2,000 simulated nodes crashed at once, a
// score raised for every dead relay slowed the survivors' probes and
// confirmations, and the last crashed node was failed everywhere after
// 10.9 s instead of 6.6 s (`go run ./sim -scenario members -nodes
// 2000`, measured with the probe interval scaled by the score, as it was
// then; 6.7 s with the rule kept). With no nack at all, every relay's silence counts, one each as
// in Lifeguard; a failed probe with no relay to ask counts one. So during
// a partition, whose other side no probe reaches, the relays of this side
// nack and the probers keep their score; in a starved process, where the
// relays are as late as the prober, failed probes raise it, its probe
// timeouts grow and its own losses stop confirming suspicions.
//
// An unhealthy node accuses no one on its own word. Its failed probe of a
// member listed alive suspects the member only when every relay asked
// nacked: then the relays, not this node alone, found it silent (a relay
// that refused the PingReq, or runs an earlier version, never nacks, and
// the node then leaves the member to the others until it is well).
// Otherwise the failure is doubted and counted (Counters.LossesDoubted),
// as are its lost connections while a probe is in progress (probe.go's
// checkLostSuspect), which are queued to be probed next (doubtLoss).
// Before, from 384 nodes in one process on two cores, unhealthy all,
// the join raised thousands of suspicions, each a signed broadcast that
// every node checked (docs/benchmarks.md, "The join's false-failure spiral, ended up to 512 nodes").
//
// A relay nacks at its own probe timeout after the PingReq, half of the
// wait the prober gives its relays (twice its probe timeout, scaled), and
// keeps waiting for the target until that wait is over: an Ack after the
// nack still answers the probe. A relay of an earlier version reads no
// PingReq.Nack and never nacks: when no other relay does, the failed
// probe counts as this node's trouble, as one without nacks does in
// Lifeguard.

// relayNackDue is the sub-kind of the TimerProbeRelay that nacks a
// relayed probe still unanswered; the one that gives it up has 0.
const relayNackDue uint8 = 1

// relayNack sends the requester a nack if the target has not answered
// the relayed ping yet, and waits one more probe timeout for it. A timer
// that fires twice nacks once.
func (e *Engine) relayNack(t Timer, out *Ready) {
	l := e.live
	r, ok := l.relays[t.b]
	if !ok || !r.nack {
		return // answered already, or nacked
	}
	r.nack = false
	l.relays[t.b] = r
	e.count().NacksSent++
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: r.requester}, Msg: &Ack{Nonce: r.nonce, Nack: true}})
	e.setTimer(Timer{kind: TimerProbeRelay, a: t.a, b: t.b}, l.timeout, out)
}

// onNack counts a relay's nack of the current probe, once per relay
// asked; any other is stale.
func (e *Engine) onNack(from peer.ID, m *Ack) {
	l := e.live
	i := slices.Index(l.unnacked, from)
	if l.stage != probeIndirect || m.Nonce != l.nonce || i < 0 {
		e.count().StaleAcks++
		return
	}
	l.unnacked = slices.Delete(l.unnacked, i, i+1)
	e.count().NacksReceived++
}

// startProbe makes target, under nonce, the current probe's, in its
// direct stage, with no relay asked yet.
func (l *liveness) startProbe(target hyparview.Peer, nonce uint64) {
	l.target, l.nonce, l.stage = target, nonce, probeDirect
	l.unnacked, l.asked = l.unnacked[:0], 0
}

// maxRechecks bounds the members queued for a probe after a doubted
// loss; more are not queued (the round-robin list reaches them).
const maxRechecks = 8

// doubtLoss counts a lost connection to member id, listed alive, that
// this node doubted (unhealthy, with a probe in progress), and queues the
// member to be probed next: the loss is checked once a probe is free,
// rather than only when the round-robin list comes round to it.
func (e *Engine) doubtLoss(id peer.ID) {
	l := e.live
	e.count().LossesDoubted++
	if len(l.recheck) < maxRechecks && !slices.Contains(l.recheck, id) {
		l.recheck = append(l.recheck, id)
	}
}

// nackInvariants checks the nack state: no more relays unnacked than
// asked, no more asked than IndirectProbes, none outside the indirect
// stage, no more members queued than maxRechecks.
func (l *liveness) nackInvariants() error {
	if len(l.unnacked) > l.asked || l.asked > l.indirect {
		return fmt.Errorf("gossip: %d relays unnacked of %d asked, %d allowed", len(l.unnacked), l.asked, l.indirect)
	}
	if l.stage != probeIndirect && l.asked != 0 {
		return fmt.Errorf("gossip: %d relays asked outside a probe's indirect stage", l.asked)
	}
	if len(l.recheck) > maxRechecks {
		return fmt.Errorf("gossip: %d members queued for a recheck, more than %d", len(l.recheck), maxRechecks)
	}
	return nil
}

// allNacked reports whether every relay asked for the current probe
// nacked it (and one was asked at least): they could not reach the target
// either, which an unhealthy node may take as its relays' word, not its
// own.
func (e *Engine) allNacked() bool {
	return e.live.asked > 0 && len(e.live.unnacked) == 0
}

// failedProbeRaise is how much the current probe's failure raises the
// health score: one for each relay asked when none nacked, one when none
// was asked, none when a relay nacked.
func (e *Engine) failedProbeRaise() int {
	l := e.live
	switch {
	case l.asked == 0:
		return 1
	case len(l.unnacked) == l.asked:
		return l.asked
	}
	return 0
}

// raiseHealthScoreBy raises the health score n times (up to its bound).
func (e *Engine) raiseHealthScoreBy(n int) {
	for range n {
		e.raiseHealthScore()
	}
}

package gossip

import (
	"time"

	"github.com/plumview/plumview/roster"
)

// Local health. A node that stalls (an overloaded host, a paused process)
// sees its own timers fire late and its connections time out, and takes
// the silence for the others' failure. Lifeguard (A. Dadgar, J. Phillips,
// J. Currey, 2018, §IV-A, "Local Health Multiplier") has such a node
// distrust itself: a score that rises on signs of its own trouble and
// falls on signs of health, and scales its probe timeouts.
// Here the score rises when a probe tick fires more than half an interval
// late (the node could not keep its own time), when the node had to
// refute a suspicion of itself (others could not reach it) and, as in
// Lifeguard, when one of its probes fails with no relay's nack (no answer
// directly or through neighbours, and no neighbour saying the member is
// silent: this node may be too slow to hear; one per relay asked, nack.go);
// it falls by one for every probe answered in time. While it is above
// zero, the node's probe timeouts and the wait of its confirming pings
// (evidence.go) are multiplied by one plus the score, its losses of
// members already suspected are doubtful (roster.Input.Doubtful): they
// confirm no suspicion, so that a stalled node cannot hasten anyone's
// failure (roster's confirm.go), and it accuses no one on its own word
// (nack.go). A driver whose timers fire on time, such as the simulator,
// sees the score move only with refutations and failed probes.
//
// Lifeguard scales the probe interval too. Here it is not: a build that
// did so joined 512 nodes in one process faster (28 s against 50–65 s
// for the whole idlecounters command), but at 256 nodes in the bench's
// loaded process the killed node was failed everywhere after 18–20 s
// against 9–10 s, the probes that find it coming that much later
// (docs/benchmarks.md, "The join's false-failure spiral, ended up to 512 nodes").

// Late timers are not the only sign. A goroutine woken by a timer runs
// next, while the goroutines that read the sockets wait their turn
// behind the others: a starved process sees its probe ticks on time and
// its probes' answers late, and suspects members that answered. So a
// driver that can measure how long its process's goroutines waited,
// runnable, before they ran reports it (NoteHostLag), and a wait of a
// quarter of the probe timeout or more raises the score as a late tick
// does.

// maxHealthScore bounds the score: Lifeguard's default maximum, 8.
const maxHealthScore = 8

// noteTick scores the punctuality of the probe tick that fires at now.
func (e *Engine) noteTick(now time.Time) {
	l := e.live
	if l.tickDue != 0 && now.UnixNano()-l.tickDue > int64(l.interval/2) {
		e.raiseHealthScore()
	}
	if n := e.roster.Counters().Refutations; n != l.refutations {
		l.refutations = n
		e.raiseHealthScore()
	}
}

// NoteHostLag reports how long, lately, the goroutines of the driver's
// process waited before they ran (the slowest hundredth of them, since
// the driver's previous report, as the runtime measures it): from a
// quarter of the probe timeout on, the node distrusts itself as after a
// late probe tick. now is the input's time, as for every input; the
// score does not depend on it. A driver without such a measure, like the
// simulator or a runtime on the in-memory network, never calls it.
func (e *Engine) NoteHostLag(now time.Time, lag time.Duration) {
	if e.live != nil && lag >= e.live.timeout/4 {
		e.raiseHealthScore()
	}
}

func (e *Engine) raiseHealthScore() {
	if e.live.healthScore < maxHealthScore {
		e.live.healthScore++
		e.count().HealthRaised++
	}
}

func (e *Engine) lowerHealthScore() {
	if e.live.healthScore > 0 {
		e.live.healthScore--
	}
}

// scaledProbeTimeout is the probe timeout scaled by the health score.
func (e *Engine) scaledProbeTimeout() time.Duration {
	return e.live.timeout * time.Duration(1+e.live.healthScore)
}

// doubtful says whether this node's own observations are doubtful now.
func (e *Engine) doubtful(in *roster.Input) bool {
	return e.live != nil && e.live.healthScore > 0 && in.Kind == roster.InputNeighborDown
}

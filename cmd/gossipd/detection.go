package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
)

// detectionConfig is how fast the agent finds a dead member, and how sure
// it must be (docs/reliability.md, "Toward 2 s"). The defaults find a
// crashed agent in about 4 s; a LAN whose hosts are rarely overloaded can
// go much faster (an idle timeout of 500 ms, probes every 500 ms, a
// suspicion of 2 s alone, 500 ms once confirmed).
type detectionConfig struct {
	idleTimeout, maxSilence               time.Duration
	probeInterval, probeTimeout           time.Duration
	suspicionTimeout, suspicionMinTimeout time.Duration
	suspicionConfirmations                int
}

func detectionFlags(fs *flag.FlagSet, d *detectionConfig) {
	fs.DurationVar(&d.idleTimeout, "idle-timeout", time.Second, "a connection silent this long (no keep-alive either) fails: a dead neighbour is suspected after it")
	fs.DurationVar(&d.maxSilence, "max-silence", 0, "a connection silent this long fails even while this host is starved of CPU, when silence is not otherwise judged (default 10 × -idle-timeout)")
	fs.DurationVar(&d.probeInterval, "probe-interval", gossip.DefaultProbeInterval, "how often the agent probes one member that is not its neighbour")
	fs.DurationVar(&d.probeTimeout, "probe-timeout", gossip.DefaultProbeTimeout, "how long a probe waits for its answer before asking neighbours to try (they get twice as long)")
	fs.DurationVar(&d.suspicionTimeout, "suspicion-timeout", roster.DefaultConfig().SuspicionTimeout, "how long a suspected member has to refute before it is declared failed, while one node alone suspects it")
	fs.DurationVar(&d.suspicionMinTimeout, "suspicion-min-timeout", roster.DefaultConfig().SuspicionMinTimeout, "the same, once -suspicion-confirmations nodes have confirmed the suspicion independently (shorter: Lifeguard's dynamic suspicion); with signatures on, also the longest an agent checks a suspicion it learned from others before showing it")
	fs.IntVar(&d.suspicionConfirmations, "suspicion-confirmations", roster.DefaultConfig().SuspicionConfirmations, "independent confirmations that bring a suspicion down to -suspicion-min-timeout (fewer: a shorter timeout on a curve)")
}

// check reports a setting out of range.
func (d *detectionConfig) check() error {
	switch {
	case d.idleTimeout < 100*time.Millisecond:
		return fmt.Errorf("gossipd: -idle-timeout must be at least 100ms, got %v", d.idleTimeout)
	case d.maxSilence != 0 && d.maxSilence < d.idleTimeout:
		return fmt.Errorf("gossipd: -max-silence %v is below -idle-timeout %v", d.maxSilence, d.idleTimeout)
	case d.probeInterval <= 0 || d.probeTimeout <= 0:
		return fmt.Errorf("gossipd: -probe-interval and -probe-timeout must be positive, got %v and %v", d.probeInterval, d.probeTimeout)
	case d.suspicionTimeout <= 0 || d.suspicionMinTimeout <= 0:
		return fmt.Errorf("gossipd: -suspicion-timeout and -suspicion-min-timeout must be positive, got %v and %v", d.suspicionTimeout, d.suspicionMinTimeout)
	case d.suspicionConfirmations < 1:
		return fmt.Errorf("gossipd: -suspicion-confirmations must be at least 1, got %d", d.suspicionConfirmations)
	case d.suspicionMinTimeout > d.suspicionTimeout:
		return fmt.Errorf("gossipd: -suspicion-min-timeout %v exceeds -suspicion-timeout %v", d.suspicionMinTimeout, d.suspicionTimeout)
	}
	return nil
}

// transport sets the transport's part: the idle timeout and its backstop
// while the host is starved (-max-silence). The keep-alives follow the
// idle timeout (the transport's default, a fifth of it).
func (d *detectionConfig) transport(tc *transport.Config) {
	tc.IdleTimeout, tc.MaxSilence = d.idleTimeout, d.maxSilence
}

// node sets the node's part: probes and suspicion.
func (d *detectionConfig) node(mc *membership.Config) {
	mc.ProbeInterval, mc.ProbeTimeout = d.probeInterval, d.probeTimeout
	mc.Roster.SuspicionTimeout, mc.Roster.SuspicionMinTimeout = d.suspicionTimeout, d.suspicionMinTimeout
	mc.Roster.SuspicionConfirmations = d.suspicionConfirmations
}

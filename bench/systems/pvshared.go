package systems

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumview/plumview/bench/harness"
	"github.com/plumview/plumview/membership"
)

// What the adapters of this project's library share (plumview.go,
// plumviewnat.go): how a node reports deliveries, joins, broadcasts and
// shows a member.

// pvRead reports every delivery of sub, node idx's subscription, to
// deliver until the subscription ends; the broadcast's id is the
// payload's first 8 bytes.
func pvRead(sub *membership.Subscription, idx int, deliver harness.DeliverFunc, lagged *atomic.Uint64) {
	for m := range sub.C() {
		if m.Lagged > 0 {
			lagged.Add(m.Lagged)
			continue
		}
		if len(m.Payload) >= 8 {
			deliver(idx, binary.BigEndian.Uint64(m.Payload), time.Now())
		}
	}
}

// pvJoin makes every node join through the first, the others at once or
// paced at cfg.JoinRate.
func pvJoin(ctx context.Context, cfg harness.Config, nodes []*membership.Node) error {
	if err := nodes[0].Join(ctx); err != nil {
		return err
	}
	seed := nodes[0].Addr()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := harness.WaitJoinTurn(ctx, cfg, start, i+1)
			if err == nil {
				err = n.Join(ctx, seed)
			}
			if err != nil {
				errs[i+1] = fmt.Errorf("node %d: %w", i+1, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pvBroadcast broadcasts payload from n, tagged with id as its first 8
// bytes.
func pvBroadcast(n *membership.Node, id uint64, payload []byte) error {
	msg := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(msg, id)
	copy(msg[8:], payload)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.Broadcast(ctx, benchTopic, msg)
	return err
}

// pvSees reports, for each of n targets, whether observer lists it as
// alive or suspect, reading observer's list once.
func pvSees(observer *membership.Node, n int, target func(i int) *membership.Node) []bool {
	live := map[uint64]bool{}
	for _, m := range observer.Members() {
		live[m.ID] = m.State == membership.StateAlive || m.State == membership.StateSuspect
	}
	seen := make([]bool, n)
	for i := range n {
		seen[i] = live[target(i).ID()]
	}
	return seen
}

// pvConverged reports whether, of n nodes, every live one lists every
// other live one alive, and more (if set) finds nothing missing in what
// observer obs lists of target; it says what is missing otherwise. Each
// observer's list is read once per check: reading it once per pair (n³
// records copied, 16.7 million at 256 nodes, several times a second)
// took a seventh of the CPU of plumview's 256-node join away from the
// nodes it measured.
func pvConverged(n int, node func(i int) *membership.Node, killed func(i int) bool, more func(obs, target int, m membership.Member) string) (bool, string) {
	live := 0
	for i := range n {
		if !killed(i) {
			live++
		}
	}
	// First the counts, which copy nothing: while the join is under way
	// the check ends there.
	for obs := range n {
		if killed(obs) {
			continue
		}
		if alive := node(obs).MemberCounts()[membership.StateAlive]; alive < live-1 {
			return false, fmt.Sprintf("node %d lists %d members alive, fewer than the %d others alive", obs, alive, live-1)
		}
	}
	listed := make(map[uint64]membership.Member, n)
	for obs := range n {
		if killed(obs) {
			continue
		}
		clear(listed)
		for _, m := range node(obs).Members() {
			listed[m.ID] = m
		}
		for target := range n {
			if killed(target) || target == obs {
				continue
			}
			m, ok := listed[node(target).ID()]
			if !ok || m.State != membership.StateAlive {
				return false, fmt.Sprintf("node %d does not see node %d alive", obs, target)
			}
			if more != nil {
				if why := more(obs, target, m); why != "" {
					return false, why
				}
			}
		}
	}
	return true, ""
}

// pvStopAll kills nodes 0 to n-1 all at once. One after the other, each
// close waited for its connections' goodbyes while the nodes still up
// reacted to every departure: at 256 nodes the stop took minutes.
func pvStopAll(n int, kill func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = kill(i) })
	}
	wg.Wait()
	return errs
}

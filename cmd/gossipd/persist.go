package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/cmd/gossipd/internal/datadir"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/roster"
)

// wallClockEnv names a test hook: when set, its value (nanoseconds) is
// the wall clock the agent derives its default incarnation and first
// message sequence number from, so that tests can play a clock that went
// backwards.
const wallClockEnv = "GOSSIPD_TEST_WALL_CLOCK_NS"

// saveInterval is how often an agent with a data directory saves its
// member list and incarnation (only when they changed).
const saveInterval = 5 * time.Second

// maxSavedContacts caps the saved members a restarted agent joins
// through, after its seeds; chosen at random.
const maxSavedContacts = 16

// wallClock returns the wall clock in nanoseconds, or the test hook's
// value.
func wallClock() (uint64, error) {
	if v, ok := os.LookupEnv(wallClockEnv); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("gossipd: $%s: %w", wallClockEnv, err)
		}
		return n, nil
	}
	return uint64(time.Now().UnixNano()), nil
}

// startPoint is where a node starts: its incarnation, its first message
// sequence number, and the saved members to join through.
type startPoint struct {
	incarnation, firstSequence uint64
	contacts                   []string
}

// restore computes the start point from the wall clock and what the data
// directory saved (nil: nothing): the incarnation and the sequence are
// each the larger of the wall clock's and the saved one's successor, so
// that neither is reused even if the clock went backwards. The contacts
// are saved members other than self, at most maxSavedContacts, in random
// order.
func restore(saved *datadir.State, wall uint64, self ed25519.PublicKey) (startPoint, error) {
	sp := startPoint{incarnation: max(min(wall, roster.MaxIncarnation), 1), firstSequence: max(wall, 1)}
	if saved == nil {
		return sp, nil
	}
	if saved.Incarnation >= roster.MaxIncarnation {
		return sp, fmt.Errorf("gossipd: data dir: saved incarnation %d is the largest possible", saved.Incarnation)
	}
	sp.incarnation = max(sp.incarnation, saved.Incarnation+1)
	sp.firstSequence = max(sp.firstSequence, saved.SequenceReserved)
	for _, m := range saved.Members {
		key, err := parsePublicKey(m)
		if err != nil || key.Equal(self) || slices.Contains(sp.contacts, m) {
			continue
		}
		sp.contacts = append(sp.contacts, m)
	}
	rand.Shuffle(len(sp.contacts), func(i, j int) { sp.contacts[i], sp.contacts[j] = sp.contacts[j], sp.contacts[i] })
	if len(sp.contacts) > maxSavedContacts {
		sp.contacts = sp.contacts[:maxSavedContacts]
	}
	return sp, nil
}

// persister saves the node's state in the data directory: periodically,
// and once more on a graceful stop. A nil persister does nothing.
type persister struct {
	store *datadir.Store
	seq   *datadir.Sequencer
	node  *membership.Node
	log   *zap.Logger
	// joined reports whether the node has joined; until it has, the
	// saved members are kept, since the node knows nobody yet and an
	// agent that stops before it joins must still find them next time.
	joined func() bool
	// final holds the delivery marks taken when deliveries were frozen
	// on the way out (saveFinal); frozen says they were.
	final  []gossip.DeliveryMark
	frozen bool
	mu     sync.Mutex // one save at a time: the loop's and the last one
}

// save writes the node's incarnation, next sequence number, alive members
// (once joined) and delivery marks, if they changed since the last save.
// It does nothing once the node is closed.
func (p *persister) save() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	inc, next := p.node.Incarnation(), p.node.NextSequence()
	if inc == 0 { // closed
		return
	}
	cur := p.store.Saved()
	members := cur.Members
	if p.joined() {
		members = nil
		for _, m := range p.node.Members() {
			if m.State == membership.StateAlive && m.ID != p.node.ID() && m.Addr != "" {
				members = append(members, m.Addr)
			}
		}
	}
	delivered := p.node.DeliveryMarks()
	if p.frozen {
		delivered = p.final
	}
	if inc <= cur.Incarnation && next <= cur.SequenceReserved && slices.Equal(members, cur.Members) &&
		reflect.DeepEqual(delivered, cur.Delivered) {
		return
	}
	if err := p.store.Save(datadir.State{
		NodeID: fmt.Sprintf("%016x", p.node.ID()), Incarnation: inc, SequenceReserved: next, Members: members,
		Delivered: delivered,
	}); err != nil {
		p.log.Warn("could not save the data directory", zap.Error(err))
	}
}

// saveFinal saves on the way out: deliveries to the streams stop first
// (membership.Node.FreezeDeliveries), so that the saved marks cover exactly
// what the application was handed, and the next run delivers the rest.
func (p *persister) saveFinal() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.final, p.frozen = p.node.FreezeDeliveries(), true
	p.mu.Unlock()
	p.save()
}

// loop saves every saveInterval until ctx ends.
func (p *persister) loop(ctx context.Context) {
	if p == nil {
		return
	}
	t := time.NewTicker(saveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.save()
		}
	}
}

// beforeBroadcast reserves the next broadcast's sequence number.
func (p *persister) beforeBroadcast() error { return p.seq.Acquire() }

// afterBroadcast records the sequence number a broadcast used.
func (p *persister) afterBroadcast(id membership.MessageID) {
	if err := p.seq.Used(id.Sequence()); err != nil {
		p.log.Warn("could not save the sequence reservation", zap.Error(err))
	}
}

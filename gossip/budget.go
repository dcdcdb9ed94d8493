package gossip

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// Budget names one kind of request a peer's budget limits.
type Budget uint8

// The budgets of a peer (Budgets).
const (
	// BudgetJoin limits JOINs (S1 Algorithm 1): each may make a full node
	// drop a neighbour.
	BudgetJoin Budget = iota
	// BudgetForwardJoin limits FORWARDJOINs, the steps of join walks.
	BudgetForwardJoin
	// BudgetShuffle limits SHUFFLEs and SHUFFLEREPLYs, which fill the
	// passive view.
	BudgetShuffle
	// BudgetNeighbor limits NEIGHBOR requests.
	BudgetNeighbor
	// BudgetRecords limits the member list's Digest messages and the
	// records a peer sends, by anti-entropy or broadcast: each record
	// costs a signature verification. Going over it only drops them (a
	// later exchange repairs what was lost); it earns no strike.
	BudgetRecords
	// BudgetNewMembers limits the records of members new to this node
	// that a peer hands over, by anti-entropy or broadcast. Going over it
	// only drops the records (a later exchange fetches them again); it
	// earns no strike.
	BudgetNewMembers
	// BudgetForged limits the records and broadcasts whose signature did
	// not verify: each is charged to the peer that sent it, and a peer
	// over this budget is evicted at once.
	BudgetForged
	// BudgetProbe limits the liveness probes a peer sends (Ping and
	// PingReq, probe.go): each costs an answer, and a PingReq a probe of
	// a third node. An honest node probes one member per ProbeInterval,
	// and asks each neighbour to relay now and then.
	BudgetProbe
	// BudgetViews limits the ViewsRequests a peer sends (overlay.go):
	// each costs an answer of up to four lists of MaxViewsPeers IDs. An
	// operator asks now and then (gossipd status -cluster), through one
	// node.
	BudgetViews
	// BudgetSignal limits the Signals a peer asks this node to relay or
	// sends it (signal.go): each relayed one costs a send to the member
	// that chose this node as its rendezvous. One connection attempt
	// through NATs takes a few dozen signals each way.
	BudgetSignal
	// BudgetReach limits the ReachRequests a peer sends (reach.go): each
	// costs a dial to the peer's address. An honest node asks at most
	// once per ReachInterval (a minute by default).
	BudgetReach

	budgetCount = iota
)

// String returns a short lower-case name.
func (b Budget) String() string {
	switch b {
	case BudgetJoin:
		return "join"
	case BudgetForwardJoin:
		return "forward-join"
	case BudgetShuffle:
		return "shuffle"
	case BudgetNeighbor:
		return "neighbor"
	case BudgetRecords:
		return "records"
	case BudgetNewMembers:
		return "new-members"
	case BudgetForged:
		return "forged"
	case BudgetProbe:
		return "probe"
	case BudgetViews:
		return "views"
	case BudgetSignal:
		return "signal"
	case BudgetReach:
		return "reach"
	}
	return "Budget(" + strconv.Itoa(int(b)) + ")"
}

// Budgets bound what one peer may ask of this node per Period. A request
// over its budget is dropped and counted (the peer is slowed: a JOIN or a
// NEIGHBOR is retried by an honest peer, a lost record is repaired by
// anti-entropy); a peer whose dropped requests in one period exceed
// Strikes is evicted: its connection is closed, it leaves the active view
// (HyParView sees a failed link), and everything it sends is dropped for
// BanPeriod. Honest traffic stays far below every default, a join burst
// of 1,000 nodes through one contact included (docs/security.md gives the
// measurements). The papers' experiments run without budgets; the
// production configuration (ProductionConfig) sets DefaultBudgets.
type Budgets struct {
	// Period is the window over which each budget is counted.
	Period time.Duration
	// PerPeriod is each budget, in requests (records for BudgetRecords,
	// BudgetNewMembers and BudgetForged) per Period and peer; indexed by
	// Budget.
	PerPeriod [budgetCount]int
	// Strikes is how many requests over budget in one period a peer may
	// send before it is evicted.
	Strikes int
	// BanPeriod is how long an evicted peer is ignored.
	BanPeriod time.Duration
	// MaxPeers bounds the peers whose usage the node tracks; peers beyond
	// it, while the table is full of peers active in the current period,
	// share 256 budgets, a peer's chosen by its ID.
	MaxPeers int
}

// DefaultBudgets returns the budgets ProductionConfig sets, per 10 s
// period. Each is a guess above what an honest peer sends: one JOIN per
// restart; the join walks of a burst of 1,000 newcomers through one
// contact reach each of its neighbours as 1,000 FORWARDJOINs within
// seconds; a shuffle per period per walk crossing the node; a few
// NEIGHBOR requests while repairing. Records and new members are the
// exception: a newcomer to a cluster of 100,000 members gets every record
// from its first neighbours; past 20,000 records and 10,000 new members
// per neighbour and period the rest waits for the next exchanges (each
// neighbour's on the link, then one every SyncInterval), so that a peer
// cannot make a node verify more than 2,000 signatures a second, nor
// grow its member list faster than 1,000 members a second.
func DefaultBudgets() Budgets {
	var b Budgets
	b.Period = 10 * time.Second
	b.PerPeriod[BudgetJoin] = 5
	b.PerPeriod[BudgetForwardJoin] = 2_000
	b.PerPeriod[BudgetShuffle] = 100
	b.PerPeriod[BudgetNeighbor] = 20
	b.PerPeriod[BudgetRecords] = 20_000
	b.PerPeriod[BudgetNewMembers] = 10_000
	b.PerPeriod[BudgetForged] = 10
	b.PerPeriod[BudgetProbe] = 200
	b.PerPeriod[BudgetViews] = 20
	b.PerPeriod[BudgetSignal] = 500
	b.PerPeriod[BudgetReach] = 3
	b.Strikes = 100
	b.BanPeriod = time.Minute
	b.MaxPeers = 4096
	return b
}

// Validate reports an impossible setting.
func (b *Budgets) Validate() error {
	if b.Period <= 0 || b.BanPeriod < 0 || b.Strikes < 0 || b.MaxPeers < 1 {
		return fmt.Errorf("gossip: budgets need a positive Period and MaxPeers and non-negative Strikes and BanPeriod, got %v, %d, %d, %v",
			b.Period, b.MaxPeers, b.Strikes, b.BanPeriod)
	}
	for k, n := range b.PerPeriod {
		if n < 1 {
			return fmt.Errorf("gossip: budget %s must be at least 1, got %d", Budget(k), n)
		}
	}
	return nil
}

// Eviction reports a peer the engine evicted for going over a budget: the
// driver logs it (its connection is in Ready.Closes).
type Eviction struct {
	Peer   peer.ID
	Budget Budget
}

// usage is one peer's spending in the current period.
type usage struct {
	start       int64 // Unix nanoseconds when the period began
	bannedUntil int64 // Unix nanoseconds; 0 when not banned
	spent       [budgetCount]uint32
	over        uint32 // requests dropped this period
}

// budgets is the engine's per-peer accounting, when Config.Budgets is set.
type budgets struct {
	cfg   Budgets
	peers map[peer.ID]*usage
	// shared are the budgets of the peers beyond MaxPeers, a peer's by
	// its ID (sharedBudget): a burst of newcomers larger than the table
	// (more than MaxPeers joining through one seed within a period)
	// spreads over them, rather than all but a few being refused by one
	// budget, and a crowd of keys slows only the peers that share their
	// buckets.
	shared    [sharedBudgets]usage
	nextSweep int64 // Unix nanoseconds before which a full table is not swept
}

// sharedBudgets is how many budgets the peers beyond Budgets.MaxPeers
// share: 256 of about 60 bytes.
const sharedBudgets = 256

// sharedBudget returns the shared budget of p, a peer the table has no
// room for.
func (b *budgets) sharedBudget(p peer.ID) *usage { return &b.shared[uint64(p)%sharedBudgets] }

// budgetOf says which budget a message spends, if any, and how much.
func budgetOf(msg Message) (Budget, int, bool) {
	switch m := msg.(type) {
	case *hyparview.Join:
		return BudgetJoin, 1, true
	case *hyparview.ForwardJoin:
		return BudgetForwardJoin, 1, true
	case *hyparview.Shuffle, *hyparview.ShuffleReply:
		return BudgetShuffle, 1, true
	case *hyparview.Neighbor:
		return BudgetNeighbor, 1, true
	case *Digest, *Heads:
		return BudgetRecords, 1, true
	case *Records:
		return BudgetRecords, 1 + len(m.Records), true
	case *Ping, *PingReq:
		return BudgetProbe, 1, true
	case *ViewsRequest:
		return BudgetViews, 1, true
	case *Signal:
		return BudgetSignal, 1, true
	case *ReachRequest:
		return BudgetReach, 1, true
	}
	return 0, 0, false
}

// usageOf returns p's usage at now, starting a new period when the last
// one is over, and whether it is a shared one. A peer not tracked is
// added; when the table is full, the peers whose period and ban are over
// are forgotten first, and if none is, p shares an overflow budget.
func (b *budgets) usageOf(now int64, p peer.ID) (*usage, bool) {
	u, ok := b.peers[p]
	shared := false
	if !ok {
		if len(b.peers) >= b.cfg.MaxPeers && now >= b.nextSweep {
			// At most one sweep per quarter period, so that a crowd of
			// new keys cannot make every message cost a scan.
			b.nextSweep = now + int64(b.cfg.Period)/4
			for id, v := range b.peers {
				if now-v.start >= int64(b.cfg.Period) && now >= v.bannedUntil {
					delete(b.peers, id)
				}
			}
		}
		if len(b.peers) >= b.cfg.MaxPeers {
			u, shared = b.sharedBudget(p), true
		} else {
			u = &usage{start: now}
			b.peers[p] = u
		}
	}
	if now-u.start >= int64(b.cfg.Period) {
		u.start, u.spent, u.over = now, [budgetCount]uint32{}, 0
	}
	return u, shared
}

// spend charges n requests of budget k to peer p at now. It reports
// whether they are within budget; when they are not, they are counted as
// dropped and the peer is evicted once it is over Strikes.
func (e *Engine) spend(now time.Time, p peer.ID, k Budget, n int, out *Ready) bool {
	b := e.budgets
	if b == nil || n <= 0 {
		return true
	}
	t := now.UnixNano()
	u, shared := b.usageOf(t, p)
	if t < u.bannedUntil {
		e.count().BannedDrops++
		return false
	}
	u.spent[k] = uint32(min(int64(u.spent[k])+int64(n), math.MaxUint32))
	if int64(u.spent[k]) <= int64(b.cfg.PerPeriod[k]) {
		return true
	}
	e.count().OverBudget[k]++
	if k == BudgetNewMembers || k == BudgetRecords {
		// An honest newcomer to a large cluster may get more records in
		// its first exchanges than one period allows: they are dropped
		// and fetched again by a later exchange, with no strike.
		return false
	}
	u.over++
	// No honest peer sends forgeries: past the small allowance for a bug
	// or a version skew, the first one is enough.
	if (k == BudgetForged || int(u.over) > b.cfg.Strikes) && !shared {
		e.evict(now, p, k, u, out)
	}
	return false
}

// banned reports whether p is banned at now, counting the message it sent
// as dropped: checked before a broadcast's signatures are, so that a
// banned peer's broadcasts still in flight cost no verification.
func (e *Engine) banned(now time.Time, p peer.ID) bool {
	if !e.isBanned(now, p) {
		return false
	}
	e.count().BannedDrops++
	return true
}

// isBanned reports whether p is banned at now, counting nothing.
func (e *Engine) isBanned(now time.Time, p peer.ID) bool {
	if e.budgets == nil {
		return false
	}
	u, ok := e.budgets.peers[p]
	return ok && now.UnixNano() < u.bannedUntil
}

// evict closes an over-budget peer's connection, drops it from the views
// and bans it for BanPeriod.
func (e *Engine) evict(now time.Time, p peer.ID, k Budget, u *usage, out *Ready) {
	u.bannedUntil = now.UnixNano() + int64(e.budgets.cfg.BanPeriod)
	u.over = 0
	e.count().Evictions++
	out.Evictions = append(out.Evictions, Eviction{Peer: p, Budget: k})
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputConnectionFailed, From: p}, out)
	out.Closes = append(out.Closes, p)
}

// clone returns an independent copy.
func (b *budgets) clone() *budgets {
	c := &budgets{cfg: b.cfg, peers: make(map[peer.ID]*usage, len(b.peers)), shared: b.shared, nextSweep: b.nextSweep}
	for id, u := range b.peers {
		v := *u
		c.peers[id] = &v
	}
	return c
}

// newMembers counts the records of members this node does not hold.
func (e *Engine) newMembers(recs []roster.Record) int {
	n := 0
	for i := range recs {
		if _, ok := e.roster.Get(recs[i].ID); !ok {
			n++
		}
	}
	return n
}

// knownOnly returns the records of members this node holds, in place.
func (e *Engine) knownOnly(recs []roster.Record) []roster.Record {
	kept := recs[:0]
	for _, r := range recs {
		if _, ok := e.roster.Get(r.ID); ok {
			kept = append(kept, r)
		}
	}
	return kept
}

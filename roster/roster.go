package roster

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// Errors for local misuse, returned by Step and New.
var (
	// ErrUnknownInput: an Input whose Kind is not declared.
	ErrUnknownInput = errors.New("roster: unknown input kind")
	// ErrLeft: UpdateMeta, Leave, Announce or SetRendezvous after Leave.
	ErrLeft = errors.New("roster: node has left")
	// ErrMetaTooLarge: metadata over Config.MaxMetaBytes.
	ErrMetaTooLarge = errors.New("roster: meta too large")
	// ErrIncarnationExhausted: the incarnation cannot be raised further.
	ErrIncarnationExhausted = errors.New("roster: incarnation exhausted")
	// ErrUnknownReason: a NeighborDown whose Reason is not declared.
	ErrUnknownReason = errors.New("roster: unknown down reason")
)

// Roster is one node's full member list: a record per known member,
// including itself and the tombstones of Failed and Left members. Create it
// with New; it is driven by Step and is not safe for concurrent use.
type Roster struct {
	self    peer.ID
	cfg     Config
	members table // sorted by ID when sorted is set
	sorted  bool
	counts  [stateCount]int // entries per State
	left    bool
	// proofs holds each member's proof when signatures are on
	// (Config.Auth); nil when they are off, so that they cost nothing.
	proofs map[peer.ID]*Proof
	// suspicions holds the observers of each suspicion held, for its
	// dynamic timeout (confirm.go); bounded by the members.
	suspicions map[peer.ID]*suspicion

	refreshArmed bool // the refresh timer is set

	// rendezvous is what this node says about reaching it
	// (rendezvous.go); signed into its own proof.
	rendezvous Rendezvous

	expiryArmed bool   // an expiry timer with expiryNonce is pending
	expiryNonce uint64 // nonce of the latest expiry timer

	counters Counters
	out      []Output // the caller's slice while Step runs
}

// Counts is the number of records held in each state.
type Counts struct {
	Alive, Suspect, Failed, Left int
}

// New returns the roster of node self, holding its own Alive record with
// cfg.Incarnation and a copy of meta. cfg's zero fields take their defaults.
func New(self hyparview.Peer, meta []byte, cfg Config) (*Roster, error) {
	if self.ID == 0 {
		return nil, errors.New("roster: self id 0 is reserved")
	}
	if len(self.Addr) > MaxAddrBytes {
		return nil, fmt.Errorf("roster: self addr of %d bytes exceeds %d", len(self.Addr), MaxAddrBytes)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if len(meta) > cfg.MaxMetaBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(meta), cfg.MaxMetaBytes)
	}
	r := &Roster{self: self.ID, cfg: cfg, members: newTable(cfg.Bodies), sorted: true}
	if cfg.Auth != nil {
		r.proofs = map[peer.ID]*Proof{}
	}
	own := entry{inc: cfg.Incarnation, state: StateAlive}
	own.setAddrMeta(self.Addr, string(meta))
	r.storeOwn(own)
	return r, nil
}

// Step handles one input at time now and appends the resulting outputs to
// out, which it returns. An error reports local misuse; outputs appended
// before it are still valid. now is the driver's clock, used to age
// tombstones; it must lie between the years 1678 and 2262 (Unix nanoseconds
// in an int64).
func (r *Roster) Step(now time.Time, in Input, out []Output) ([]Output, error) {
	r.out = out
	var err error
	switch {
	case in.Kind < InputReceive || in.Kind > InputSetRendezvous:
		err = fmt.Errorf("%w: %d", ErrUnknownInput, in.Kind)
	case r.left && (in.Kind == InputUpdateMeta || in.Kind == InputLeave || in.Kind == InputAnnounce || in.Kind == InputSetRendezvous):
		err = ErrLeft
	case r.left:
		r.counters.IgnoredInputs++
	default:
		err = r.dispatch(now, in)
	}
	out = r.out
	r.out = nil
	return out, err
}

// dispatch handles one input of a node that has not left.
func (r *Roster) dispatch(now time.Time, in Input) error {
	switch in.Kind {
	case InputReceive:
		r.counters.Received += uint64(len(in.Records))
		r.applyAll(now, in.Records, in.Verified)
	case InputMerge:
		r.counters.Merged += uint64(len(in.Records))
		r.applyAll(now, in.Records, in.Verified)
	case InputNeighborUp:
		r.neighborUp(now, in.Peer)
	case InputNeighborDown:
		return r.neighborDown(now, in.Peer, in.Reason, in.Doubtful)
	case InputTimer:
		r.onTimer(now, in.Timer)
	case InputUpdateMeta:
		return r.updateMeta(in.Meta)
	case InputLeave:
		r.leave(now)
	case InputAnnounce:
		r.broadcast(r.Record())
		if !r.refreshArmed {
			r.refreshArmed = true
			r.setTimer(Timer{Kind: TimerRefresh}, r.cfg.RefreshInterval)
		}
	case InputSetRendezvous:
		return r.setRendezvous(in.Rendezvous)
	}
	return nil
}

// refresh re-announces our record under a new incarnation, so that every
// node hears from us within SilenceTimeout, and sets the next refresh.
func (r *Roster) refresh() {
	r.setTimer(Timer{Kind: TimerRefresh}, r.cfg.RefreshInterval)
	own, _ := r.members.get(r.self)
	if own.inc >= MaxIncarnation {
		r.counters.Unrefutable++
		return
	}
	own.inc++
	r.storeOwn(own)
	r.counters.Refreshes++
	r.broadcast(r.Record())
}

// updateMeta replaces our metadata under a new incarnation and broadcasts
// the new record.
func (r *Roster) updateMeta(meta []byte) error {
	if len(meta) > r.cfg.MaxMetaBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(meta), r.cfg.MaxMetaBytes)
	}
	own, _ := r.members.get(r.self)
	if own.inc >= MaxIncarnation {
		return ErrIncarnationExhausted
	}
	own.inc++
	own.setAddrMeta(own.addr(), string(meta))
	r.storeOwn(own)
	r.broadcast(r.Record())
	return nil
}

// leave marks our record Left at the current incarnation (Left supersedes
// Alive at equal incarnation) and broadcasts it.
func (r *Roster) leave(now time.Time) {
	own, _ := r.members.get(r.self)
	own.state = StateLeft
	own.since = now.UnixNano()
	r.storeOwn(own)
	r.left = true
	r.broadcast(r.Record())
}

// store puts e under id, keeping the index and the counts in step.
func (r *Roster) store(id peer.ID, e entry) {
	if p := r.members.find(id); p >= 0 {
		r.counts[r.members.recs[p].state()]--
		r.members.set(p, id, e)
	} else {
		if n := r.members.len(); r.sorted && n > 0 && r.members.recs[n-1].id() > id {
			r.sorted = false
		}
		r.members.add(id, e)
	}
	r.counts[e.state]++
	if e.state != StateSuspect && r.suspicions != nil {
		delete(r.suspicions, id)
	}
	if id != r.self {
		r.armExpiry()
	}
}

// storeOwn stores our own record, signing it when signatures are on.
func (r *Roster) storeOwn(e entry) {
	r.store(r.self, e)
	if r.proofs != nil {
		rec := e.record(r.self)
		r.proofs[r.self] = r.ownProof(&rec)
	}
}

// record returns the record held in e for id, with its proof when
// signatures are on.
func (r *Roster) record(id peer.ID, e *entry) Record {
	rec := e.record(id)
	if r.proofs != nil {
		rec.Proof = r.proofs[id]
	}
	return rec
}

// shareable reports whether the record held in e for id may be sent to
// others: always when signatures are off; when they are on, only a record
// others can verify (sendable).
func (r *Roster) shareable(id peer.ID, e *entry) bool {
	return r.proofs == nil || sendable(r.proofs[id], e.state)
}

// sortedMembers returns the records held in ascending order of ID,
// sorting them if needed. The slice is the table's: valid until the next
// change.
func (r *Roster) sortedMembers() []member {
	if !r.sorted {
		r.members.sortByID()
		r.sorted = true
	}
	return r.members.recs
}

func (r *Roster) broadcast(rec Record) {
	r.out = append(r.out, Output{Kind: OutputBroadcast, Record: rec})
}

func (r *Roster) event(k EventKind, id peer.ID, e *entry) {
	r.out = append(r.out, Output{Kind: OutputEvent, Event: k, Record: r.record(id, e)})
}

func (r *Roster) setTimer(t Timer, after time.Duration) {
	r.out = append(r.out, Output{Kind: OutputSetTimer, Timer: t, After: after})
}

// Supersedes reports whether a received record would replace what this
// roster holds of its member, and so have its proof checked (with
// signatures on): it is newer than the record held, or names a member not
// held while there is room, or supersedes this node's own record (which
// would be refuted). A malformed record supersedes nothing. It reads the
// roster only; a driver uses it to check together most of the proofs that
// merging a batch of records would check one by one (a record equal to
// the one held is checked too when it brings a missing proof or another
// declarer's confirmation of a suspicion).
func (r *Roster) Supersedes(rec *Record) bool {
	if check(rec, r.cfg.MaxMetaBytes) != "" {
		return false
	}
	old, had := r.members.get(rec.ID)
	if !had {
		return rec.ID != r.self && !r.full()
	}
	return old.compareRecord(rec) > 0
}

// Self returns this node's id.
func (r *Roster) Self() peer.ID { return r.self }

// Record returns this node's own record.
func (r *Roster) Record() Record {
	e, _ := r.members.get(r.self)
	return r.record(r.self, &e)
}

// Left reports whether this node has left.
func (r *Roster) Left() bool { return r.left }

// Config returns the configuration in use, defaults applied.
func (r *Roster) Config() Config { return r.cfg }

// Counters returns a snapshot of the counters.
func (r *Roster) Counters() Counters { return r.counters }

// Len returns how many records are held, tombstones and self included.
func (r *Roster) Len() int { return r.members.len() }

// Counts returns how many records are held in each state.
func (r *Roster) Counts() Counts {
	c := r.counts
	return Counts{Alive: c[StateAlive], Suspect: c[StateSuspect], Failed: c[StateFailed], Left: c[StateLeft]}
}

// Get returns the record held for id.
func (r *Roster) Get(id peer.ID) (Record, bool) {
	p := r.members.find(id)
	if p < 0 {
		return Record{}, false
	}
	e := r.members.recs[p].entry()
	return r.record(id, &e), true
}

// Members returns a copy of every record held, tombstones and self
// included, sorted by ID.
func (r *Roster) Members() []Record { return r.AppendMembers(nil) }

// AppendMembersAfter appends to dst, sorted by ID, the records held with
// an ID above after, at most limit of them (all if limit <= 0): a page of
// the member list, for a caller that cannot take it whole.
func (r *Roster) AppendMembersAfter(dst []Record, after peer.ID, limit int) []Record {
	ms := r.sortedMembers()
	i, found := r.members.search(after)
	if found {
		i++
	}
	end := len(ms)
	if limit > 0 && limit < end-i {
		end = i + limit
	}
	for k := i; k < end; k++ {
		e := ms[k].entry()
		dst = append(dst, r.record(ms[k].id(), &e))
	}
	return dst
}

// All yields every record held, sorted by ID, as Members returns them but
// without copying the list: a caller that scans the list (for a random
// member, or the ones in some state) allocates nothing. The roster must
// not be stepped while the scan runs.
func (r *Roster) All() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		ms := r.sortedMembers()
		for k := range ms {
			e := ms[k].entry()
			if !yield(r.record(ms[k].id(), &e)) {
				return
			}
		}
	}
}

// AppendMembers appends every record held, sorted by ID, to dst.
func (r *Roster) AppendMembers(dst []Record) []Record {
	ms := r.sortedMembers()
	dst = slices.Grow(dst, len(ms))
	for k := range ms {
		e := ms[k].entry()
		dst = append(dst, r.record(ms[k].id(), &e))
	}
	return dst
}

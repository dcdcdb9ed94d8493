package roster

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/plumview/plumview/peer"
)

// DigestEntry summarises one record for anti-entropy: enough to tell which
// side holds the newer record, without Addr or Meta.
type DigestEntry struct {
	ID          peer.ID
	Incarnation uint64
	State       State
}

// String renders the entry as "7:alive@3", like Record.String.
func (d DigestEntry) String() string {
	return strconv.FormatUint(uint64(d.ID), 10) + ":" + d.State.String() + "@" + strconv.FormatUint(d.Incarnation, 10)
}

// DigestChunk is a part of a digest: the entries of every record held with
// an ID in [From, To].
type DigestChunk struct {
	From, To peer.ID
	Entries  []DigestEntry
}

// Digest returns a summary of every record held, sorted by ID. It has one
// entry per record (17 bytes of payload each: 170 KB for 10,000 members);
// a runtime whose frames are smaller sends it in Chunks.
func (r *Roster) Digest() []DigestEntry { return r.AppendDigest(nil) }

// AppendDigest appends the digest to dst and returns it. With signatures
// on, it leaves out the records this node may not send (sendable), as
// Diff and AppendRecords do.
func (r *Roster) AppendDigest(dst []DigestEntry) []DigestEntry {
	ms := r.sortedMembers()
	dst = slices.Grow(dst, len(ms))
	for k := range ms {
		if b := ms[k].b; r.proofs == nil || sendable(r.proofs[b.id], b.state) {
			dst = append(dst, DigestEntry{ID: b.id, Incarnation: b.inc, State: b.state})
		}
	}
	return dst
}

// Chunks splits a digest sorted by ID into chunks of at most maxEntries
// entries (all of them in one chunk if maxEntries <= 0). The chunks cover
// every ID between them, so DiffChunk on each answers what Diff on the
// whole would.
func Chunks(d []DigestEntry, maxEntries int) []DigestChunk {
	if maxEntries <= 0 || len(d) <= maxEntries {
		return []DigestChunk{{From: 0, To: math.MaxUint64, Entries: d}}
	}
	var out []DigestChunk
	from := peer.ID(0)
	for len(d) > maxEntries {
		last := d[maxEntries-1].ID
		out = append(out, DigestChunk{From: from, To: last, Entries: d[:maxEntries:maxEntries]})
		from, d = last+1, d[maxEntries:]
	}
	return append(out, DigestChunk{From: from, To: math.MaxUint64, Entries: d})
}

// Diff compares a remote node's whole digest with what we hold. send lists
// our records that are newer than the remote's or that the remote lacks;
// want lists the IDs where the remote's record is newer or that we lack.
// Newer means higher (Incarnation, State); the Addr and Meta tie-break of
// Compare is invisible to digests. A tombstone held by one side only is
// neither sent nor wanted: a node that never knew a member needs no
// tombstone for it, and tombstones must not circulate past RetainDead by
// being handed back and forth. A malformed digest (unsorted, duplicate IDs,
// invalid fields) is refused: Diff returns nothing and counts it.
func (r *Roster) Diff(remote []DigestEntry) (send []Record, want []peer.ID) {
	return r.DiffChunk(DigestChunk{From: 0, To: math.MaxUint64, Entries: remote})
}

// DiffChunk is Diff restricted to the IDs a chunk covers.
func (r *Roster) DiffChunk(c DigestChunk) (send []Record, want []peer.ID) {
	if !r.validChunk(&c) {
		r.counters.MalformedDigests++
		return nil, nil
	}
	ms := r.sortedMembers()
	i, _ := r.members.search(c.From)
	remote := c.Entries
	for i < len(ms) && ms[i].id() <= c.To || len(remote) > 0 {
		switch {
		case len(remote) == 0 || (i < len(ms) && ms[i].id() <= c.To && ms[i].id() < remote[0].ID):
			e := ms[i].entry()
			if e.state.Present() && r.shareable(ms[i].id(), &e) {
				send = append(send, r.record(ms[i].id(), &e))
			}
			i++
		case i >= len(ms) || ms[i].id() > c.To || remote[0].ID < ms[i].id():
			if remote[0].State.Present() {
				want = append(want, remote[0].ID)
			}
			remote = remote[1:]
		default:
			e := ms[i].entry()
			switch cmp.Or(cmp.Compare(e.inc, remote[0].Incarnation), cmp.Compare(e.state, remote[0].State)) {
			case 1:
				if r.shareable(ms[i].id(), &e) {
					send = append(send, r.record(ms[i].id(), &e))
				}
			case -1:
				want = append(want, ms[i].id())
			}
			i++
			remote = remote[1:]
		}
	}
	return send, want
}

// validChunk reports whether a remote chunk is well formed: bounds in
// order, entries strictly ascending within them, fields valid.
func (r *Roster) validChunk(c *DigestChunk) bool {
	if c.From > c.To {
		return false
	}
	prev := c.From
	for k, d := range c.Entries {
		if d.ID == 0 || !d.State.Valid() || d.Incarnation > MaxIncarnation ||
			d.ID < c.From || d.ID > c.To || (k > 0 && d.ID <= prev) {
			return false
		}
		prev = d.ID
	}
	return true
}

// AppendRecords appends the records held for ids to dst, skipping IDs not
// held: the answer to a remote node's want list.
func (r *Roster) AppendRecords(dst []Record, ids []peer.ID) []Record {
	for _, id := range ids {
		if p := r.members.find(id); p >= 0 {
			if e := r.members.recs[p].entry(); r.shareable(id, &e) {
				dst = append(dst, r.record(id, &e))
			}
		}
	}
	return dst
}

package roster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// A peer that invents identities cannot grow the roster past MaxMembers
// nor push out a member it holds: records of new identities are refused
// and counted, records of held members still apply, and a slot freed by
// an expired tombstone takes a new identity again.
func TestMaxMembersRefusesNewIdentitiesAndEvictsNone(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := newRoster(t, 1, 1, Config{MaxMembers: 4, RetainDead: time.Minute, ExpiryInterval: time.Minute})
	step(t, r, t0, receive(rec(2, StateAlive, 1), rec(3, StateAlive, 1)))

	var invented []Record
	for id := peer.ID(100); id < 356; id++ {
		invented = append(invented, rec(id, StateAlive, 1))
	}
	step(t, r, t0, receive(invented...))
	require.Equal(t, 4, r.Len(), "self, the two honest members and one invention")
	require.Equal(t, uint64(255), r.Counters().RefusedFull)
	for _, id := range []peer.ID{1, 2, 3} {
		_, ok := r.Get(id)
		require.True(t, ok, "member %d is never evicted", id)
	}

	step(t, r, t0, receive(rec(2, StateAlive, 2)))
	got, _ := r.Get(2)
	require.Equal(t, uint64(2), got.Incarnation, "a held member's update still applies")

	step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 500, Addr: addr(500)}})
	_, ok := r.Get(500)
	require.False(t, ok, "a new neighbour is refused too")
	require.Equal(t, uint64(256), r.Counters().RefusedFull)

	// Member 3 leaves; once its tombstone expires, its slot takes a new
	// identity.
	step(t, r, t0, receive(rec(3, StateLeft, 1)))
	step(t, r, t0.Add(3*time.Minute), fire(Timer{Kind: TimerExpiry, Nonce: r.expiryNonce}))
	_, ok = r.Get(3)
	require.False(t, ok, "the tombstone expired")
	step(t, r, t0.Add(3*time.Minute), receive(rec(600, StateAlive, 1)))
	_, ok = r.Get(600)
	require.True(t, ok, "a freed slot takes a new identity")
}

func TestMaxMembersMustBePositive(t *testing.T) {
	require.ErrorContains(t, Config{MaxMembers: -1}.Validate(), "MaxMembers")
	require.NoError(t, Config{MaxMembers: 1}.Validate())
	require.Equal(t, 100_000, DefaultConfig().MaxMembers)
}

// AppendMembersAfter pages through the member list in ID order: the pages
// of any size, chained by their last ID, hold every record once.
func TestAppendMembersAfterPages(t *testing.T) {
	r := newRoster(t, 5, 1, Config{})
	for _, id := range []peer.ID{9, 2, 7, 3} {
		step(t, r, t0, receive(rec(id, StateAlive, 1)))
	}
	for _, tc := range []struct {
		after peer.ID
		limit int
		want  []peer.ID
	}{
		{0, 0, []peer.ID{2, 3, 5, 7, 9}},
		{0, 2, []peer.ID{2, 3}},
		{3, 2, []peer.ID{5, 7}},
		{4, 10, []peer.ID{5, 7, 9}},
		{9, 3, nil},
	} {
		var got []peer.ID
		for _, m := range r.AppendMembersAfter(nil, tc.after, tc.limit) {
			got = append(got, m.ID)
		}
		require.Equal(t, tc.want, got, "after %d limit %d", tc.after, tc.limit)
	}
	for size := 1; size <= 6; size++ {
		var all []Record
		for after := peer.ID(0); ; {
			page := r.AppendMembersAfter(nil, after, size)
			all = append(all, page...)
			if len(page) < size {
				break
			}
			after = page[len(page)-1].ID
		}
		require.Equal(t, r.Members(), all, "pages of %d", size)
	}
}

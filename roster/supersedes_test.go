package roster

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/peer"
)

// Supersedes names the records a merge would take or refute, and so
// check: newer than the record held, or of a member not held while there
// is room, or newer than this node's own.
func TestSupersedes(t *testing.T) {
	r := newRoster(t, 1, 1, Config{MaxMembers: 3})
	step(t, r, t0, receive(rec(2, StateAlive, 2)))
	cases := []struct {
		name string
		rec  Record
		want bool
	}{
		{"a newer incarnation", rec(2, StateAlive, 3), true},
		{"a suspicion at the incarnation held", rec(2, StateSuspect, 2), true},
		{"the record held", rec(2, StateAlive, 2), false},
		{"an older incarnation", rec(2, StateAlive, 1), false},
		{"a new member while there is room", rec(3, StateAlive, 1), true},
		{"a suspicion of this node", rec(1, StateSuspect, 1), true},
		{"this node's own record", rec(1, StateAlive, 1), false},
		{"a malformed record", Record{ID: 3, Incarnation: 1, State: State(9)}, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, r.Supersedes(&tc.rec), tc.name)
	}
	step(t, r, t0, receive(rec(3, StateAlive, 1)))
	require.False(t, r.Supersedes(&Record{ID: 4, Addr: addr(4), Incarnation: 1, State: StateAlive}), "a new member of a full roster")
}

// Whatever the roster holds, a received record supersedes it exactly when
// merging it changes the roster or refutes it.
func TestPropertySupersedesPredictsTheMerge(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := newRoster(rt, 1, 1, Config{MaxMembers: 4})
		for range rapid.IntRange(0, 6).Draw(rt, "held") {
			step(rt, r, t0, receive(rec(drawID(rt), State(rapid.IntRange(1, 4).Draw(rt, "state")), uint64(rapid.IntRange(1, 3).Draw(rt, "inc")))))
		}
		x := rec(drawID(rt), State(rapid.IntRange(1, 4).Draw(rt, "state")), uint64(rapid.IntRange(1, 3).Draw(rt, "inc")))
		want := r.Supersedes(&x)
		before := r.Counters()
		step(rt, r, t0, receive(x))
		after := r.Counters()
		changed := after.Applied > before.Applied || after.Refutations > before.Refutations
		require.Equal(rt, want, changed, "record %v", x)
	})
}

func drawID(rt *rapid.T) peer.ID { return peer.ID(rapid.IntRange(1, 6).Draw(rt, "id")) }

package roster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPrecedence holds the merge rules of doc.go against a table: a higher
// incarnation wins; at equal incarnation Left > Failed > Suspect > Alive;
// remaining ties go to the bytewise greater Addr, then Meta. Each case is
// checked through Compare (both ways) and through Step: a node holding a
// receives b and must end up holding the winner.
func TestPrecedence(t *testing.T) {
	meta := func(r Record, m string) Record { r.Meta = []byte(m); return r }
	withAddr := func(r Record, a string) Record { r.Addr = a; return r }
	cases := []struct {
		name string
		a, b Record
		want int // Compare(a, b)
	}{
		{"higher incarnation beats alive", rec(7, StateAlive, 2), rec(7, StateAlive, 1), 1},
		{"higher incarnation alive beats suspect", rec(7, StateAlive, 3), rec(7, StateSuspect, 2), 1},
		{"higher incarnation alive beats failed", rec(7, StateAlive, 3), rec(7, StateFailed, 2), 1},
		{"higher incarnation alive beats left", rec(7, StateAlive, 3), rec(7, StateLeft, 2), 1},
		{"lower incarnation left loses to alive", rec(7, StateLeft, 1), rec(7, StateAlive, 2), -1},
		{"suspect beats alive at equal incarnation", rec(7, StateSuspect, 2), rec(7, StateAlive, 2), 1},
		{"failed beats suspect at equal incarnation", rec(7, StateFailed, 2), rec(7, StateSuspect, 2), 1},
		{"failed beats alive at equal incarnation", rec(7, StateFailed, 2), rec(7, StateAlive, 2), 1},
		{"left beats failed at equal incarnation", rec(7, StateLeft, 2), rec(7, StateFailed, 2), 1},
		{"left beats alive at equal incarnation", rec(7, StateLeft, 2), rec(7, StateAlive, 2), 1},
		{"identical records tie", rec(7, StateAlive, 2), rec(7, StateAlive, 2), 0},
		{"meta breaks a tie", meta(rec(7, StateAlive, 2), "b"), meta(rec(7, StateAlive, 2), "a"), 1},
		{"addr breaks a tie before meta", withAddr(rec(7, StateAlive, 2), "z"), meta(rec(7, StateAlive, 2), "zz"), 1},
		{"meta with higher incarnation wins", meta(rec(7, StateAlive, 3), "a"), meta(rec(7, StateAlive, 2), "b"), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, Compare(c.a, c.b))
			require.Equal(t, -c.want, Compare(c.b, c.a))
			winner := c.a
			if c.want < 0 {
				winner = c.b
			}
			for _, order := range [][2]Record{{c.a, c.b}, {c.b, c.a}} {
				r := newRoster(t, 1, 1, Config{})
				step(t, r, t0, receive(order[0]))
				step(t, r, t0, receive(order[1]))
				got, ok := r.Get(7)
				require.True(t, ok)
				require.Equal(t, 0, Compare(winner, got), "held %v, want %v", got, winner)
			}
		})
	}
}

// TestMalformedRecordsDropped: a record with the reserved ID 0, an unknown
// state, an incarnation above MaxIncarnation, oversized meta or address is
// dropped and counted, never stored.
func TestMalformedRecordsDropped(t *testing.T) {
	big := make([]byte, 513)
	bad := []Record{
		rec(0, StateAlive, 1),
		{ID: 7, State: 0},
		{ID: 7, State: 9},
		{ID: 7, State: StateAlive, Incarnation: MaxIncarnation + 1},
		{ID: 7, State: StateAlive, Meta: big},
		{ID: 7, State: StateAlive, Addr: string(make([]byte, MaxAddrBytes+1))},
	}
	r := newRoster(t, 1, 1, Config{})
	out := step(t, r, t0, receive(bad...))
	require.Empty(t, out)
	require.Equal(t, uint64(len(bad)), r.Counters().Malformed)
	require.Equal(t, 1, r.Len())
	out = step(t, r, t0, Input{Kind: InputMerge, Records: bad})
	require.Empty(t, out)
	require.Equal(t, uint64(2*len(bad)), r.Counters().Malformed)
}

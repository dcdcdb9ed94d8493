package wire

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

func mustNew(t testing.TB, extra ...Type) *Codec {
	t.Helper()
	c, err := New(extra...)
	require.NoError(t, err)
	return c
}

var (
	genPeer = rapid.Custom(func(t *rapid.T) hyparview.Peer {
		return hyparview.Peer{ID: peer.ID(rapid.Uint64().Draw(t, "id")), Addr: rapid.String().Draw(t, "addr")}
	})
	genPeers = rapid.SliceOfN(genPeer, 0, 10)
	genMID   = rapid.Custom(func(t *rapid.T) (id plumtree.MessageID) {
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "mid"))
		return id
	})
	genMessage = rapid.OneOf(
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.Join{Addr: rapid.String().Draw(t, "addr"), Nonce: rapid.Uint64().Draw(t, "nonce")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.ForwardJoin{NewNode: genPeer.Draw(t, "new"), TTL: rapid.Int().Draw(t, "ttl")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.Neighbor{Priority: hyparview.Priority(rapid.Uint8().Draw(t, "prio")),
				Addr: rapid.String().Draw(t, "addr"), Nonce: rapid.Uint64().Draw(t, "nonce")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.NeighborReply{Accepted: rapid.Bool().Draw(t, "ok"),
				Addr: rapid.String().Draw(t, "addr"), Nonce: rapid.Uint64().Draw(t, "nonce")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.Disconnect{Alive: rapid.Bool().Draw(t, "alive"), Nonce: rapid.Uint64().Draw(t, "nonce")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.Shuffle{Origin: genPeer.Draw(t, "origin"), TTL: rapid.Int().Draw(t, "ttl"), Peers: genPeers.Draw(t, "peers")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &hyparview.ShuffleReply{Peers: genPeers.Draw(t, "peers")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &plumtree.Gossip{ID: genMID.Draw(t, "id"), Round: rapid.Uint32().Draw(t, "round"),
				Payload: rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "payload")}
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			n := rapid.IntRange(0, 8).Draw(t, "n")
			m := &plumtree.IHave{}
			for range n {
				m.Entries = append(m.Entries, plumtree.Announcement{ID: genMID.Draw(t, "id"), Round: rapid.Uint32().Draw(t, "round")})
			}
			return m
		}),
		rapid.Custom(func(t *rapid.T) peer.Message {
			return &plumtree.Graft{ID: genMID.Draw(t, "id"), HasID: rapid.Bool().Draw(t, "has"), Round: rapid.Uint32().Draw(t, "round")}
		}),
		rapid.Just[peer.Message](&plumtree.Prune{}),
	)
)

// normalize maps empty slices to nil: msgpack cannot tell them apart and the
// cores treat them alike.
func normalize(v peer.Message) peer.Message {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Slice && f.Len() == 0 {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return v
}

func TestRoundTripEveryMessage(t *testing.T) {
	c := mustNew(t)
	rapid.Check(t, func(t *rapid.T) {
		msg := genMessage.Draw(t, "msg")
		frame, err := c.Encode(msg)
		require.NoError(t, err)
		// AppendEncode appends the same bytes after a prefix.
		again, err := c.AppendEncode([]byte("prefix"), msg)
		require.NoError(t, err)
		require.Equal(t, append([]byte("prefix"), frame...), again)
		got, err := c.Decode(frame)
		require.NoError(t, err)
		require.Equal(t, normalize(msg), normalize(got))
	})
}

// TestGoldenFrames pins the wire format: a change here breaks compatibility
// with deployed nodes and needs a new Version.
func TestGoldenFrames(t *testing.T) {
	mid := plumtree.OriginSequenceID(1, 2)
	p7 := hyparview.Peer{ID: 7, Addr: "10.0.0.1:7946"}
	for _, tc := range []struct {
		msg  peer.Message
		want string
	}{
		{&hyparview.Join{Addr: "h:1", Nonce: 42}, "010192a3683a312a"},
		{&hyparview.ForwardJoin{NewNode: p7, TTL: 6}, "0102929207ad31302e302e302e313a3739343606"},
		{&hyparview.Neighbor{Priority: hyparview.PriorityHigh, Addr: "h:1", Nonce: 300}, "01039302a3683a31cd012c"},
		{&hyparview.NeighborReply{Accepted: true, Addr: "h:2", Nonce: 1}, "010493c3a3683a3201"},
		{&hyparview.Disconnect{Alive: false, Nonce: 9}, "010592c209"},
		{&hyparview.Shuffle{Origin: p7, TTL: 3, Peers: []hyparview.Peer{{ID: 8, Addr: "b"}}}, "0106939207ad31302e302e302e313a373934360391920" + "8a162"},
		{&hyparview.ShuffleReply{Peers: []hyparview.Peer{{ID: 8, Addr: "b"}}}, "010791919208a162"},
		{&plumtree.Gossip{ID: mid, Round: 1, Payload: []byte("hi")}, "012093c410000000000000000100000000000000020" + "1c4026869"},
		{&plumtree.IHave{Entries: []plumtree.Announcement{{ID: mid, Round: 5}}}, "01219191" + "92c41000000000000000010000000000000002" + "05"},
		{&plumtree.Graft{ID: mid, HasID: true, Round: 2}, "012293c41000000000000000010000000000000002c302"},
		{&plumtree.Prune{}, "012390"},
	} {
		t.Run(reflect.TypeOf(tc.msg).Elem().Name(), func(t *testing.T) {
			c := mustNew(t)
			frame, err := c.Encode(tc.msg)
			require.NoError(t, err)
			assert.Equal(t, tc.want, hex.EncodeToString(frame))
			got, err := c.Decode(frame)
			require.NoError(t, err)
			assert.Equal(t, tc.msg, got)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	c, err := NewWithLimits(Limits{MaxCollectionLen: 2, MaxFrameBytes: 64})
	require.NoError(t, err)
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"version only", []byte{1}, ErrTruncated},
		{"no body", []byte{1, 1}, ErrTruncated},
		{"unknown version", h("020192a3683a312a"), ErrUnknownVersion},
		{"unknown core tag", h("010892"), ErrUnknownTag},
		{"unregistered extension tag", h("01409100"), ErrUnknownTag},
		{"truncated body", h("010192a3683a"), ErrTruncated},
		{"string longer than frame", h("010192db7fffffff"), ErrTruncated},
		{"trailing bytes", h("010192a3683a312a00"), ErrTrailingBytes},
		{"wrong field type", h("010192a3683a31a178"), ErrMalformed},
		{"too many peers", h("010791939201a1619202a1629203a163"), ErrLimit},
		{"frame too large", append(h("012093c410"), make([]byte, 64)...), ErrTooLarge},
		{"huge array header", h("010791dd7fffffff"), ErrTruncated},
		{"map in place of array", h("010181a441646472a178"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := c.Decode(tc.frame)
			if tc.want == nil { // decodes: msgpack maps into structs by field name
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, msg)
			assert.Contains(t, err.Error(), "wire:")
		})
	}
}

type memberRecord struct {
	peer.Sealed
	Key  []byte
	Meta map[string]string
}

func (m *memberRecord) Validate() error {
	if len(m.Meta) > 2 {
		return errors.New("too much metadata")
	}
	return nil
}

type digest struct {
	peer.Sealed
	IDs []uint64
}

func TestExtensions(t *testing.T) {
	c := mustNew(t,
		Type{Tag: 64, New: func() peer.Message { return new(memberRecord) }},
		Type{Tag: 65, New: func() peer.Message { return new(digest) }},
	)
	frame, err := c.Encode(&memberRecord{Key: []byte{1}, Meta: map[string]string{"dc": "x"}})
	require.NoError(t, err)
	assert.Equal(t, byte(64), frame[1])
	got, err := c.Decode(frame)
	require.NoError(t, err)
	assert.Equal(t, &memberRecord{Key: []byte{1}, Meta: map[string]string{"dc": "x"}}, got)
	frame, err = c.Encode(&memberRecord{Meta: map[string]string{"a": "", "b": "", "c": ""}})
	require.NoError(t, err)
	_, err = c.Decode(frame)
	assert.ErrorIs(t, err, ErrLimit, "Validate is applied")

	_, err = c.Encode(&struct {
		peer.Sealed
		X int
	}{})
	assert.ErrorIs(t, err, ErrUnknownType)
	_, err = c.Encode((*digest)(nil))
	assert.ErrorIs(t, err, ErrUnknownType)

	for _, tc := range []struct {
		name  string
		types []Type
		want  error
	}{
		{"core tag", []Type{{Tag: 1, New: func() peer.Message { return new(digest) }}}, ErrReservedTag},
		{"reserved tag", []Type{{Tag: 63, New: func() peer.Message { return new(digest) }}}, ErrReservedTag},
		{"duplicate tag", []Type{{Tag: 70, New: func() peer.Message { return new(digest) }}, {Tag: 70, New: func() peer.Message { return new(memberRecord) }}}, ErrDuplicateTag},
		{"duplicate type", []Type{{Tag: 70, New: func() peer.Message { return new(digest) }}, {Tag: 71, New: func() peer.Message { return new(digest) }}}, ErrDuplicateTag},
		{"core type again", []Type{{Tag: 70, New: func() peer.Message { return new(plumtree.Prune) }}}, ErrDuplicateTag},
		{"not a pointer", []Type{{Tag: 70, New: func() peer.Message { return digest{} }}}, ErrBadType},
		{"nil New", []Type{{Tag: 70}}, ErrBadType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.types...)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func FuzzDecode(f *testing.F) {
	c := mustNew(f, Type{Tag: 64, New: func() peer.Message { return new(memberRecord) }})
	for _, m := range []peer.Message{
		&hyparview.Shuffle{Origin: hyparview.Peer{ID: 1, Addr: "a"}, TTL: 3, Peers: []hyparview.Peer{{ID: 2, Addr: "b"}}},
		&plumtree.Gossip{Round: 1, Payload: []byte("payload")},
		&plumtree.IHave{Entries: []plumtree.Announcement{{Round: 1}}},
		&hyparview.Join{Addr: "x", Nonce: 1},
		&memberRecord{Key: []byte{1}, Meta: map[string]string{"k": "v"}},
	} {
		frame, err := c.Encode(m)
		require.NoError(f, err)
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		msg, err := c.Decode(frame)
		if err != nil {
			require.Nil(t, msg)
			return
		}
		// Whatever decodes re-encodes and decodes to the same message.
		again, err := c.Encode(msg)
		require.NoError(t, err)
		msg2, err := c.Decode(again)
		require.NoError(t, err)
		require.Equal(t, normalize(msg), normalize(msg2))
	})
}

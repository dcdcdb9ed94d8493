package membership

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// Node IDs read the same in logs, message IDs, gaps and events as in
// gossipd's CLI: sixteen hexadecimal digits, leading zeros kept.
func TestIDsInSixteenHexDigits(t *testing.T) {
	require.Equal(t, "09b045505bb2ca4f", hexID(0x09b045505bb2ca4f))
	require.Equal(t, "0000000000000001", hexID(1))
	var id MessageID
	binary.BigEndian.PutUint64(id[:8], 0x09b045505bb2ca4f)
	binary.BigEndian.PutUint64(id[8:], 0x2a)
	require.Equal(t, "09b045505bb2ca4f-2a", id.String())
	require.Equal(t, "000000000000000a 1-2 (2)", Gap{Origin: 10, First: 1, Last: 2, Count: 2}.String())
	require.Equal(t, "join 00000000000000ff", Event{Kind: EventJoin, Member: Member{ID: 0xff}}.String())
	require.Equal(t, "09b045505bb2ca4f", peerField(uint64(0x09b045505bb2ca4f)).String)
}

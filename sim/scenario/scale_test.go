package scenario

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The scale run joins one by one or in batches: either way every node
// delivers the broadcast and the same options give the same counts; the
// batches are a different run (fewer events: joiners of one batch
// displace one another), and the table says which ran.
func TestScaleJoinBatches(t *testing.T) {
	run := func(batch int) ScaleResult {
		r, err := RunScale(ScaleOptions{Nodes: 2000, Seed: 3, Cycles: 2, JoinBatch: batch})
		require.NoError(t, err)
		return r
	}
	one, batched := run(1), run(8)
	assert.Equal(t, 2000, one.Delivered)
	assert.Equal(t, 2000, batched.Delivered)
	again := run(8)
	assert.Equal(t, batched.Events, again.Events, "deterministic")
	assert.Equal(t, batched.LastHop, again.LastHop)
	assert.NotEqual(t, one.Events, batched.Events, "a different run")
	var out bytes.Buffer
	require.NoError(t, WriteScale(&out, batched))
	assert.Contains(t, out.String(), "2000 nodes joined 8 at a time through one contact")
	out.Reset()
	require.NoError(t, WriteScale(&out, one))
	assert.Contains(t, out.String(), "2000 nodes joined one by one through one contact")
}

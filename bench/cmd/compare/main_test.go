package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A child is given every option of its parent's run: parsing its command
// line gives the parent's options back.
func TestChildGetsTheParentsOptions(t *testing.T) {
	parent, err := parseFlags([]string{"-nodes", "12", "-messages", "7", "-sizes", "64,512", "-timeout", "40s",
		"-msg-timeout", "3s", "-sustain", "2s", "-window", "9", "-settle", "250ms", "-idle", "5s",
		"-seed", "4", "-join-rate", "2.5", "-profile", "/tmp/p", "-quiet", "-systems", "plumview"})
	require.NoError(t, err)
	child, err := parseFlags(childArgs("plumview", parent))
	require.NoError(t, err)
	assert.Equal(t, parent.opts, child.opts)
	assert.Equal(t, "plumview", child.child)
	assert.True(t, child.quiet)
}

package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

func TestDefaultConfigIsZeroConfig(t *testing.T) {
	d := DefaultConfig()
	require.NoError(t, d.Validate())
	require.Equal(t, 80*time.Millisecond, d.GraftTimeout1)
	require.Equal(t, 40*time.Millisecond, d.GraftTimeout2)
	require.Equal(t, 5*time.Millisecond, d.LazyPushDelay)
	require.Equal(t, 7, d.OptimizationThreshold)
	require.Equal(t, uint64(1), d.FirstSequence)
	s, err := New(1, Config{})
	require.NoError(t, err)
	require.Equal(t, d, s.Config())
	require.Equal(t, peer.ID(1), s.Self())
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"negative timeout1":        {GraftTimeout1: -1},
		"negative timeout2":        {GraftTimeout2: -1},
		"negative min timeout1":    {MinGraftTimeout: -1},
		"min above timeout1":       {MinGraftTimeout: 100 * time.Millisecond},
		"negative retention":       {PayloadRetention: -1},
		"negative calm retention":  {CalmPayloadRetention: -1},
		"calm above retention":     {CalmPayloadRetention: time.Minute},
		"negative entries":         {MaxIHaveEntries: -1},
		"negative threshold":       {OptimizationThreshold: -1},
		"negative cap":             {MaxMissing: -1},
		"unknown policy":           {IDPolicy: 7},
		"seen shorter than held":   {SeenRetention: time.Second},
		"fewer ids than payloads":  {MaxSeenIDs: 10},
		"cache smaller than a msg": {MaxCachedBytes: 1000},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.Validate()
			require.ErrorContains(t, err, "plumtree: ")
			_, err = New(1, c)
			require.Error(t, err)
		})
	}
	require.NoError(t, Config{LazyPushDelay: -1}.Validate(), "a negative LazyPushDelay means at once")
}

func TestNames(t *testing.T) {
	require.Equal(t, "GOSSIP", MessageGossip.String())
	require.Equal(t, "IHAVE", (&IHave{}).Type().String())
	require.Equal(t, "GRAFT", (&Graft{}).Type().String())
	require.Equal(t, "PRUNE", (&Prune{}).Type().String())
	require.Equal(t, "MessageType(9)", MessageType(9).String())
	require.Equal(t, "0-0", MessageID{}.String())
	require.Equal(t, "ffffffffffffffff-1", OriginSequenceID(^peer.ID(0), 1).String())
	require.Equal(t, "content-hash", IDContentHash.String())
	require.Equal(t, "graft", TimerGraft.String())
	require.Equal(t, "receive", InputReceive.String())
	require.Equal(t, "deliver", OutputDeliver.String())
}

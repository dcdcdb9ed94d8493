package hyparview

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDefaultConfigIsThePapers: the defaults are the settings of S1 §5.1
// (active 5, passive 30, ARWL 6, PRWL 3, ka 3, kp 4) and our guesses for
// what S1 leaves open.
func TestDefaultConfigIsThePapers(t *testing.T) {
	require.Equal(t, Config{
		ActiveViewSize:          5,
		PassiveViewSize:         30,
		ActiveRandomWalkLength:  6,
		PassiveRandomWalkLength: 3,
		ShuffleActiveCount:      3,
		ShufflePassiveCount:     4,
		ShuffleTTL:              6,
		ShuffleInterval:         10 * time.Second,
		NeighborRequestTimeout:  500 * time.Millisecond,
		JoinTimeout:             time.Second,
	}, DefaultConfig())
	require.NoError(t, DefaultConfig().Validate())
	require.Zero(t, DefaultConfig().JoinEvictionsPerShuffle, "unlimited, as in S1 Algorithm 1")
}

// TestZeroConfigMeansDefaults: a zero field takes its default; the passive
// view defaults to six times the active view, and ka and kp never exceed the
// views they sample.
func TestZeroConfigMeansDefaults(t *testing.T) {
	s, err := New(testPeer(1), Config{}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.Equal(t, DefaultConfig(), s.Config())

	s, err = New(testPeer(1), Config{ActiveViewSize: 2, PassiveViewSize: 3}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.Equal(t, 2, s.Config().ShuffleActiveCount)
	require.Equal(t, 3, s.Config().ShufflePassiveCount)

	require.Equal(t, 18, Config{ActiveViewSize: 3}.withDefaults().PassiveViewSize)
}

// TestConfigForClusterSize: active = floor(log10(n))+1, at least 2, and
// passive = 6·active (S1 §4.1: log(n)+c with c = 1, k = 6, log base 10).
func TestConfigForClusterSize(t *testing.T) {
	for _, tc := range []struct{ n, active int }{
		{-5, 2}, {0, 2}, {1, 2}, {9, 2}, {10, 2}, {99, 2}, {100, 3},
		{999, 3}, {1000, 4}, {10_000, 5}, {99_999, 5}, {1_000_000, 7},
	} {
		c := ConfigForClusterSize(tc.n)
		require.Equal(t, tc.active, c.ActiveViewSize, "n=%d", tc.n)
		require.Equal(t, 6*tc.active, c.PassiveViewSize, "n=%d", tc.n)
		require.Equal(t, min(3, tc.active), c.ShuffleActiveCount, "n=%d", tc.n)
		require.NoError(t, c.Validate(), "n=%d", tc.n)
	}
	require.Equal(t, DefaultConfig(), ConfigForClusterSize(10_000))
}

// TestValidateRejectsBadConfig: every unusable setting is reported with the
// package's prefix and the field's name, and New refuses it.
func TestValidateRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ActiveViewSize: -1}, "ActiveViewSize"},
		{Config{PassiveViewSize: -3}, "PassiveViewSize"},
		{Config{ActiveRandomWalkLength: -1}, "ActiveRandomWalkLength"},
		{Config{PassiveRandomWalkLength: 7}, "PassiveRandomWalkLength (7) must not exceed ActiveRandomWalkLength (6)"},
		{Config{ActiveRandomWalkLength: 2}, "PassiveRandomWalkLength (3) must not exceed"},
		{Config{ShuffleActiveCount: 6}, "ShuffleActiveCount (6) must not exceed ActiveViewSize (5)"},
		{Config{ShufflePassiveCount: 31}, "ShufflePassiveCount (31) must not exceed PassiveViewSize (30)"},
		{Config{ShuffleTTL: MaxTTL + 1}, "must be at most 32"},
		{Config{ActiveRandomWalkLength: MaxTTL + 1}, "must be at most 32"},
		{Config{ShuffleInterval: -time.Second}, "ShuffleInterval"},
		{Config{NeighborRequestTimeout: -1}, "NeighborRequestTimeout"},
		{Config{JoinTimeout: -1}, "JoinTimeout"},
		{Config{JoinEvictionsPerShuffle: -1}, "JoinEvictionsPerShuffle"},
		{Config{ActiveViewSize: 1 << 20}, "view sizes must be at most"},
	} {
		err := tc.cfg.Validate()
		require.ErrorContains(t, err, tc.want, "%+v", tc.cfg)
		require.ErrorContains(t, err, "hyparview: ")
		_, err = New(testPeer(1), tc.cfg, rand.New(rand.NewPCG(1, 1)))
		require.Error(t, err)
	}
}

// TestNewRejectsNilRandomSource: randomness must be injected.
func TestNewRejectsNilRandomSource(t *testing.T) {
	_, err := New(testPeer(1), Config{}, nil)
	require.EqualError(t, err, "hyparview: nil random source")
}

// TestStringers: every enum names its values, and unknown values are
// shown by number.
func TestStringers(t *testing.T) {
	require.Equal(t, "Join", TypeJoin.String())
	require.Equal(t, "ShuffleReply", TypeShuffleReply.String())
	require.Equal(t, "MessageType(99)", MessageType(99).String())
	require.Equal(t, "high", PriorityHigh.String())
	require.Equal(t, "Priority(0)", Priority(0).String())
	require.Equal(t, "connection-failed", InputConnectionFailed.String())
	require.Equal(t, "neighbor-down", OutputNeighborDown.String())
	require.Equal(t, "dropped", DownDropped.String())
	require.Equal(t, "neighbor-request", TimerNeighborRequest.String())
	require.Equal(t, "TimerKind(0)", TimerKind(0).String())
}

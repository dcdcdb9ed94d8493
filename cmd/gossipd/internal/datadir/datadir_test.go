package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

func TestFirstStartHasNoState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "dir")
	s, st, err := Open(dir)
	require.NoError(t, err)
	require.Nil(t, st)
	require.NotNil(t, s)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir)
	require.NoError(t, err)
	want := State{NodeID: "00000000000000ab", Incarnation: 7, SequenceReserved: 99, Members: []string{"k1@127.0.0.1:1", "k2@127.0.0.1:2"},
		Delivered: []gossip.DeliveryMark{{Origin: 1<<63 + 5, Run: 1<<62 + 1, Next: 1<<62 + 90, Holes: [][2]uint64{{1<<62 + 7, 1<<62 + 9}}}}}
	require.NoError(t, s.Save(want))
	_, got, err := Open(dir)
	require.NoError(t, err)
	require.Equal(t, Version, got.Version)
	require.Equal(t, want.NodeID, got.NodeID)
	require.Equal(t, want.Incarnation, got.Incarnation)
	require.Equal(t, want.SequenceReserved, got.SequenceReserved)
	require.Equal(t, want.Members, got.Members)
	require.Equal(t, want.Delivered, got.Delivered, "64-bit IDs and sequences survive JSON exactly")
	require.False(t, got.SavedAt.IsZero())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

// What was saved never goes down: a save with a lower incarnation or
// reservation keeps the higher ones.
func TestSaveNeverLowers(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir)
	require.NoError(t, err)
	require.NoError(t, s.Save(State{Incarnation: 10, SequenceReserved: 500}))
	require.NoError(t, s.Save(State{Incarnation: 3, SequenceReserved: 2, Members: []string{"a"}}))
	require.NoError(t, s.Reserve(100))
	_, got, err := Open(dir)
	require.NoError(t, err)
	require.Equal(t, uint64(10), got.Incarnation)
	require.Equal(t, uint64(500), got.SequenceReserved)
	require.Equal(t, []string{"a"}, got.Members)
}

// A file that is not a valid state is a clear error naming it, never
// replaced silently.
func TestCorruptFileIsAnError(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":     "\x00\x01 not json",
		"truncated":   `{"version": 1, "incarnation": 5`,
		"version":     `{"version": 2, "incarnation": 5}`,
		"no version":  `{"incarnation": 5}`,
		"bad type":    `{"version": 1, "incarnation": "five"}`,
		"long member": `{"version": 1, "members": ["` + strings.Repeat("x", MaxAddrBytes+1) + `"]}`,
		"too large":   `{"version": 1, "node_id": "` + strings.Repeat("x", MaxFileBytes) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, _, err := Open(dir)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, "remove the file to start afresh")
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, content, string(got), "the file is left as it was")
		})
	}
	dir := t.TempDir()
	many := make([]string, MaxMembers+1)
	for i := range many {
		many[i] = `"m"`
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version": 1, "members": [`+strings.Join(many, ",")+`]}`), 0o600))
	_, _, err := Open(dir)
	require.ErrorIs(t, err, ErrCorrupt)
	marks := make([]string, MaxDelivered+1)
	for i := range marks {
		marks[i] = `{"Origin": 1, "Next": 2}`
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version": 1, "delivered": [`+strings.Join(marks, ",")+`]}`), 0o600))
	_, _, err = Open(dir)
	require.ErrorIs(t, err, ErrCorrupt, "too many delivery marks")
}

// Every sequence number a broadcast may use is reserved in the file
// before it is used, so an agent restarted from the file after any
// broadcast (a crash) starts above every number used; the file is written
// once per step broadcasts, not per broadcast.
func TestSequencerReservesAhead(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir)
	require.NoError(t, err)
	q, err := NewSequencer(s, 1000, 10)
	require.NoError(t, err)
	require.Equal(t, uint64(1011), q.Reserved(), "reserved at once, before any broadcast")
	writes := 0
	last := q.Reserved()
	for seq := uint64(1000); seq < 1100; seq++ {
		require.NoError(t, q.Acquire())
		_, st, err := Open(dir) // what a restart after a crash now would read
		require.NoError(t, err)
		require.Greater(t, st.SequenceReserved, seq, "seq %d is reserved before use", seq)
		require.NoError(t, q.Used(seq))
		if q.Reserved() != last {
			writes++
			last = q.Reserved()
		}
	}
	require.LessOrEqual(t, writes, 10)

	// Concurrent broadcasts: each is counted, whatever the interleaving.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := q.Acquire(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	_, st, err := Open(dir)
	require.NoError(t, err)
	require.Greater(t, st.SequenceReserved, uint64(1100+400-1), "the 400 concurrent broadcasts used numbers up to 1499")
}

// A node that skipped numbers (their IDs were known) used more than the
// broadcasts counted: Used catches up, and a number past the reservation
// is reserved at once.
func TestSequencerCatchesUpOnSkips(t *testing.T) {
	s, _, err := Open(t.TempDir())
	require.NoError(t, err)
	q, err := NewSequencer(s, 1, 10)
	require.NoError(t, err)
	require.NoError(t, q.Acquire())
	require.NoError(t, q.Used(50))
	require.Greater(t, s.Saved().SequenceReserved, uint64(50))
	require.NoError(t, q.Acquire())
	require.NoError(t, q.Used(51))
	require.Greater(t, q.Reserved(), uint64(51))
}

// A reservation that cannot be saved refuses the broadcast.
func TestSequencerRefusesWhenItCannotSave(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir)
	require.NoError(t, err)
	q, err := NewSequencer(s, 1, 2)
	require.NoError(t, err)
	require.Equal(t, uint64(4), q.Reserved())
	require.NoError(t, os.RemoveAll(dir))
	for range 3 { // 1, 2 and 3 are reserved
		require.NoError(t, q.Acquire())
	}
	require.ErrorContains(t, q.Acquire(), "data dir: ")
}

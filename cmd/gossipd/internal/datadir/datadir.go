// Package datadir keeps what a gossipd agent remembers across restarts in
// its data directory (-data-dir): the addresses of the members it last saw
// alive, its incarnation, a reservation of message sequence numbers, and
// the marks of the broadcasts it delivered (gossip.DeliveryMark), so that
// a restarted agent does not deliver them again.
// A restarted agent rejoins through those members without seeds, and
// starts above its saved incarnation and reservation, so that it never
// reuses either even if the wall clock went backwards (docs/operations.md,
// "The data directory").
//
// The state is one JSON file, versioned, written atomically: a temporary
// file in the same directory, synced, renamed over the old one, and the
// directory synced. A file that cannot be read is an error, never silently
// replaced: the operator decides to remove it.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/plumview/plumview/gossip"
)

// FileName is the state file's name in the data directory.
const FileName = "gossipd-state.json"

// Version is the state file format this package writes and reads.
const Version = 1

// Limits on what a state file may hold: more is refused as corrupt.
const (
	// MaxFileBytes bounds the state file.
	MaxFileBytes = 16 << 20
	// MaxMembers bounds the member addresses saved and read.
	MaxMembers = 10_000
	// MaxAddrBytes bounds one saved address.
	MaxAddrBytes = 1024
	// MaxDelivered bounds the delivery marks saved and read.
	MaxDelivered = gossip.MaxDeliveryMarks
)

// State is what the data directory holds.
type State struct {
	// Version is the file format, Version.
	Version int `json:"version"`
	// NodeID is the agent's ID (16 hexadecimal digits) when saved: the
	// state belongs to that identity.
	NodeID string `json:"node_id"`
	// Incarnation is the highest incarnation of the agent's own record
	// known when saved; a restarted agent starts above it.
	Incarnation uint64 `json:"incarnation"`
	// SequenceReserved is above every message sequence number the agent
	// used or may use before it saves again; a restarted agent's first
	// broadcast gets at least this one.
	SequenceReserved uint64 `json:"sequence_reserved"`
	// Members are the addresses ("key@host:port") of the members that were
	// alive when saved, this agent excluded.
	Members []string `json:"members"`
	// Delivered are the marks of the broadcasts the agent delivered, per
	// origin (membership.Node.DeliveryMarks): what they cover is not
	// delivered again after a restart.
	Delivered []gossip.DeliveryMark `json:"delivered,omitempty"`
	// SavedAt is when the file was written, for operators.
	SavedAt time.Time `json:"saved_at"`
}

// ErrCorrupt wraps every reason a state file is refused.
var ErrCorrupt = errors.New("state file is corrupt")

// Store writes the state file of one data directory. Its methods are safe
// for concurrent use.
type Store struct {
	dir  string
	path string

	mu  sync.Mutex
	cur State // what the file holds
}

// Open creates dir if needed (mode 0700) and reads its state file. It
// returns the saved state, or nil when there is none (a first start). A
// file that is not a valid state is an error wrapping ErrCorrupt that
// names it.
func Open(dir string) (*Store, *State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName)}
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %s: %w", s.path, err)
	}
	st, err := decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %s: %w (remove the file to start afresh; the agent then falls back on the wall clock for its incarnation and message IDs, and on -seeds to join)", s.path, err)
	}
	s.cur = *st
	return s, st, nil
}

// decode parses and checks a state file.
func decode(data []byte) (*State, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrCorrupt, MaxFileBytes)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	switch {
	case st.Version != Version:
		return nil, fmt.Errorf("%w: format version %d, this agent reads %d", ErrCorrupt, st.Version, Version)
	case len(st.Members) > MaxMembers:
		return nil, fmt.Errorf("%w: %d members, at most %d", ErrCorrupt, len(st.Members), MaxMembers)
	case len(st.Delivered) > MaxDelivered:
		return nil, fmt.Errorf("%w: %d delivery marks, at most %d", ErrCorrupt, len(st.Delivered), MaxDelivered)
	}
	for _, m := range st.Members {
		if len(m) > MaxAddrBytes {
			return nil, fmt.Errorf("%w: a member address of %d bytes", ErrCorrupt, len(m))
		}
	}
	return &st, nil
}

// Saved returns what the file holds now.
func (s *Store) Saved() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cur
	st.Members = append([]string(nil), s.cur.Members...)
	return st
}

// Save writes st, except that the incarnation and the reservation saved
// never go down: each is the larger of st's and the file's. Members are
// capped at MaxMembers, delivery marks at MaxDelivered.
func (s *Store) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Version = Version
	st.Incarnation = max(st.Incarnation, s.cur.Incarnation)
	st.SequenceReserved = max(st.SequenceReserved, s.cur.SequenceReserved)
	if len(st.Members) > MaxMembers {
		st.Members = st.Members[:MaxMembers]
	}
	if len(st.Delivered) > MaxDelivered {
		st.Delivered = st.Delivered[:MaxDelivered]
	}
	st.SavedAt = time.Now().UTC()
	if err := s.write(&st); err != nil {
		return err
	}
	s.cur = st
	return nil
}

// Reserve saves the file with its reservation raised to at least seq.
func (s *Store) Reserve(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.cur.SequenceReserved {
		return nil
	}
	st := s.cur
	st.Version = Version
	st.SequenceReserved = seq
	st.SavedAt = time.Now().UTC()
	if err := s.write(&st); err != nil {
		return err
	}
	s.cur = st
	return nil
}

// write replaces the file with st atomically; s.mu is held.
func (s *Store) write(st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	f, err := os.CreateTemp(s.dir, "."+FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("data dir: save %s: %w", s.path, err)
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(s.dir); err == nil {
		err = d.Sync()
		_ = d.Close()
		if err != nil {
			return fmt.Errorf("data dir: sync %s: %w", s.dir, err)
		}
	}
	return nil
}

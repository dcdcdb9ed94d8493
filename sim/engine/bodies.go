package engine

import (
	"sync"

	"github.com/plumview/plumview/roster"
)

// sharedBodies is the roster.Bodies of one simulation (and of its clones):
// every node's member list refers to one copy of each record's body, so
// that n nodes holding n records each cost 16 bytes and an index slot per
// record and node, not 48 and a slot (docs/benchmarks.md, "Member list
// memory, shared records"). It keeps every body any node stored, superseded
// ones included: a few per member over a run (its join, a suspicion, a
// failure, a refutation), small beside the n² references to them. The lock
// is for the instants whose events step nodes on several goroutines
// (parallel.go) and for clones run side by side.
type sharedBodies struct {
	mu sync.Mutex
	m  map[roster.Body]*roster.Body
}

func newSharedBodies() *sharedBodies {
	return &sharedBodies{m: map[roster.Body]*roster.Body{}}
}

// Share implements roster.Bodies.
func (s *sharedBodies) Share(b roster.Body) *roster.Body {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.m[b]; ok {
		return p
	}
	p := &b
	s.m[b] = p
	return p
}

// len returns how many bodies are held (for tests).
func (s *sharedBodies) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

package hyparview

import (
	"math/rand/v2"
	"testing"
)

func TestFootprintNamesTheViewsAndTheSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s, err := New(Peer{ID: 1}, Config{}, rng)
	if err != nil {
		t.Fatal(err)
	}
	if a, f, l, r := s.Footprint(); a != nil || f != nil || l != nil || r != rng {
		t.Fatalf("empty views: Footprint() = %p %p %p %p, want nil nil nil and the source", a, f, l, r)
	}
	s.active = append(s.active, link{peer: Peer{ID: 2}})
	s.passive = append(s.passive, Peer{ID: 3}, Peer{ID: 4}, Peer{ID: 5})
	a, f, l, _ := s.Footprint()
	if a != &s.active[0].peer || f != &s.passive[0] || l != &s.passive[2] {
		t.Fatalf("Footprint() = %p %p %p, want the first active entry and the ends of the passive view", a, f, l)
	}
}

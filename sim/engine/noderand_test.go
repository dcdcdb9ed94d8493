package engine

import (
	"math/rand/v2"
	"testing"
)

// A node's random source in one allocation draws what rand.New over the
// same PCG draws, so the simulation's choices do not depend on it, and the
// source kept for Clone is the one drawn from.
func TestNodeRandDrawsAsRandNew(t *testing.T) {
	r := newNodeRand(rand.NewPCG(7, 9))
	wantSrc := rand.NewPCG(7, 9)
	want := rand.New(wantSrc)
	for i := range 1000 {
		if got, w := r.rng.IntN(1+i), want.IntN(1+i); got != w {
			t.Fatalf("draw %d: %d, want %d", i, got, w)
		}
	}
	if r.src != *wantSrc {
		t.Fatalf("source state %v after the draws, want %v", r.src, *wantSrc)
	}
}

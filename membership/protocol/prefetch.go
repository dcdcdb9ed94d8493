package protocol

import "github.com/plumview/plumview/plumtree"

// PrefetchState hints that the engine is about to be stepped: it starts
// loading the engine's first cache lines, which every step reads, without
// waiting for them. A caller that steps many engines in turn (the
// simulator) calls it a few steps ahead so that their cache misses overlap.
// It reads and changes nothing.
func (e *Engine) PrefetchState() { e.pt.PrefetchState() } // pt comes first in Engine

// PrefetchInput hints that in is about to be stepped: for a payload it
// starts loading what recording it reads. It reads the engine's first
// lines, so call it after PrefetchState has had time to work. It changes
// nothing.
func (e *Engine) PrefetchInput(in Input) {
	if in.Kind != InputReceive {
		return
	}
	if g, ok := in.Msg.(*plumtree.Gossip); ok {
		e.pt.PrefetchPayload(g.ID)
	}
}

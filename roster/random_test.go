package roster

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// byteSource turns bytes into choices; it yields zeros once exhausted. The
// fuzz target and the rapid property share it.
type byteSource struct {
	data []byte
	pos  int
}

func (d *byteSource) done() bool { return d.pos >= len(d.data) }

func (d *byteSource) byte() byte {
	if d.done() {
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

// record draws a record about one of five members (1 is the node itself),
// malformed about one time in ten: ID 0, an unknown state, oversized meta
// or an incarnation above MaxIncarnation.
func (d *byteSource) record() Record {
	r := Record{
		ID:          peer.ID(1 + d.byte()%5),
		State:       State(1 + d.byte()%4),
		Incarnation: uint64(d.byte() % 5),
		Meta:        make([]byte, d.byte()%4),
	}
	switch d.byte() {
	case 250:
		r.ID = 0
	case 251:
		r.State = State(5 + d.byte()%251)
	case 252:
		r.Meta = make([]byte, 20)
	case 253:
		r.Incarnation = MaxIncarnation + uint64(d.byte()%2)
	}
	r.Addr = addr(r.ID)
	return r
}

// input draws one input; timers are often ones the node set.
func (d *byteSource) input(timers []Timer) Input {
	peer := hyparview.Peer{ID: peer.ID(d.byte() % 6)}
	peer.Addr = addr(peer.ID)
	switch d.byte() % 10 {
	case 0, 1:
		return Input{Kind: InputReceive, Records: []Record{d.record(), d.record()}}
	case 2:
		return Input{Kind: InputMerge, Records: []Record{d.record()}}
	case 3:
		return Input{Kind: InputNeighborUp, Peer: peer}
	case 4:
		return Input{Kind: InputNeighborDown, Peer: peer, Reason: hyparview.DownReason(d.byte() % 6)}
	case 5, 6:
		if len(timers) > 0 && d.byte()%4 != 0 {
			return Input{Kind: InputTimer, Timer: timers[int(d.byte())%len(timers)]}
		}
		return Input{Kind: InputTimer, Timer: Timer{Kind: TimerKind(d.byte() % 4), ID: peer.ID,
			Incarnation: uint64(d.byte() % 5), Nonce: uint64(d.byte() % 4)}}
	case 7:
		return Input{Kind: InputUpdateMeta, Meta: make([]byte, d.byte()%10)}
	case 8:
		return Input{Kind: InputAnnounce}
	default:
		if d.byte()%32 == 0 {
			return Input{Kind: InputLeave}
		}
		return Input{Kind: InputKind(d.byte() % 12)}
	}
}

// driveRandom steps one node (id 1) through the inputs the bytes describe,
// checking after every step: the invariants; that errors come exactly from
// local misuse; that the events, replayed by an application, give exactly
// the members the roster holds as present; and that the node broadcasts
// only its own records and suspicions or failures of others.
func driveRandom(t tb, data []byte) *Roster {
	d := &byteSource{data: data}
	cfg := Config{
		Incarnation:      uint64(d.byte() % 4),
		MaxMetaBytes:     1 + int(d.byte()%8),
		SuspicionTimeout: time.Second,
		RetainDead:       time.Duration(1+d.byte()%4) * time.Second,
		ExpiryInterval:   time.Second,
	}
	r, err := New(hyparview.Peer{ID: 1, Addr: addr(1)}, nil, cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	now := t0
	var pending []Timer
	present := map[peer.ID]bool{}
	for !d.done() {
		in := d.input(pending)
		wasLeft := r.Left()
		out, err := r.Step(now, in, nil)
		checkError(t, in, err, wasLeft, r.Config().MaxMetaBytes, r.Config().Auth != nil)
		for _, o := range out {
			switch o.Kind {
			case OutputSetTimer:
				pending = append(pending, o.Timer)
			case OutputEvent:
				present[o.Record.ID] = o.Record.State.Present()
			case OutputBroadcast:
				if o.Record.ID != 1 && o.Record.State != StateSuspect && o.Record.State != StateFailed {
					t.Fatalf("broadcast of another member's %v", o.Record)
				}
			}
		}
		if err := r.Invariants(); err != nil {
			t.Fatalf("after %+v: %v", in, err)
		}
		for id, p := range present {
			if m, ok := r.Get(id); p && !ok {
				t.Fatalf("after %+v: events say %d is present, roster does not hold it", in, id)
			} else if ok && m.State.Present() != p {
				t.Fatalf("after %+v: events say present=%v, roster holds %v", in, p, m)
			}
		}
		for _, m := range r.Members() {
			if m.ID != 1 && m.State.Present() && !present[m.ID] {
				t.Fatalf("after %+v: roster holds %v, events never said so", in, m)
			}
		}
		now = now.Add(time.Duration(d.byte()) * 20 * time.Millisecond)
	}
	return r
}

// checkError fails unless err is exactly the local misuse in describes.
func checkError(t tb, in Input, err error, wasLeft bool, maxMeta int, signed bool) {
	var want error
	switch {
	case in.Kind < InputReceive || in.Kind > InputSetRendezvous:
		want = ErrUnknownInput
	case wasLeft && (in.Kind == InputUpdateMeta || in.Kind == InputLeave || in.Kind == InputAnnounce || in.Kind == InputSetRendezvous):
		want = ErrLeft
	case wasLeft:
	case in.Kind == InputNeighborDown && (in.Reason < hyparview.DownFailed || in.Reason > hyparview.DownDropped):
		want = ErrUnknownReason
	case in.Kind == InputUpdateMeta && len(in.Meta) > maxMeta:
		want = ErrMetaTooLarge
	case in.Kind == InputSetRendezvous && !signed:
		want = ErrUnsigned
	case in.Kind == InputSetRendezvous && in.Rendezvous.check(1) != "":
		want = ErrBadRendezvous
	}
	if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("%+v: error %v, want %v", in, err, want)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "roster:") {
		t.Fatalf("error without the package prefix: %v", err)
	}
}

// FuzzStep decodes bytes into inputs for one node and checks what
// driveRandom checks after every step; Step must never panic.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{1, 2, 3, 2, 4, 2, 1, 2, 4, 2, 1, 5, 1, 0, 2, 2, 7, 3, 0, 5, 0})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		seed := make([]byte, 200)
		for i := range seed {
			seed[i] = byte(rng.UintN(256))
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { driveRandom(t, data) })
}

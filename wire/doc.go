// Package codec encodes the core protocol messages (and registered
// extensions) as frames for the transport.
//
// A frame is one version byte (Version, 1), one type tag and a msgpack body
// (github.com/hashicorp/go-msgpack/v2), with structs encoded as arrays of
// their fields in declaration order. Tags are reserved by range: 1–31 for
// hyparview messages (1 + hyparview.MessageType − 1: Join 1 … ShuffleReply
// 7), 32–63 for plumtree (Gossip 32, IHave 33, Graft 34, Prune 35), and
// 64–255 for extension types registered with New.
//
// Decode only ever decodes into the concrete struct registered for the tag,
// never into interface values, and never panics. Input from peers is bounded:
// the frame size (Limits.MaxFrameBytes) is checked first, msgpack nesting is
// capped (Limits.MaxDepth), collection preallocation is capped by
// go-msgpack's MaxInitLen, and lists are checked against
// Limits.MaxCollectionLen after decoding, so memory is bounded by a small
// multiple of the frame size. Every error wraps one of the package's
// sentinel errors, naming the reason (unknown version or tag, truncated,
// trailing bytes, limit, malformed body). What to do with a bad frame
// (close, count, log) is the runtime's decision.
package wire

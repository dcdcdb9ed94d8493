// Package protocol composes the HyParView membership core and the Plumtree
// broadcast core into the engine that drivers run.
//
// Engine is the pure composition: like the cores it has one entry point,
// Step, takes time and a seeded random source from its caller, and returns
// what to send, which connections to close, which timers to set and which
// payloads to deliver. The simulator drives Engines directly; the runtime
// (package membership) drives one per process over real connections. It
// lives apart from the runtime so that the simulator never links a socket.
//
// HyParView's active view is Plumtree's neighbour set: every neighbour that
// comes up in HyParView becomes an eager push peer in Plumtree, and every
// neighbour that goes down leaves both of Plumtree's push sets.
//
// With EngineConfig.Members set, the engine also keeps the full member
// list (package roster) and every Plumtree payload becomes an Envelope: an
// application message with its topic, or member records, which travel
// under content-derived IDs. Neighbour up and down feed the member list;
// a neighbour that comes up receives our member-list digest (Digest,
// answered with Records), and with Plumtree's NeighborUpAnnouncements our
// recent broadcasts, so what was missed during a partition is repaired.
// InputRejoin is the driver's periodic partition-healing tick. Off, the
// default, the engine is the two cores alone, as the simulator's
// reproductions of the papers need.
package gossip

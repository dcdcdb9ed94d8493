// Package membership is the embedded gossip library: a Node joins a cluster
// through seed addresses, keeps a full member list and broadcasts messages
// that every live node delivers once.
//
// The protocol logic is pure and lives below: package gossip composes the
// HyParView and Plumtree cores with the member list of package roster into
// one engine; this package drives that engine over a transport (QUIC in
// production, transport.MemNetwork in tests), carrying out each batch it
// returns, and adds nothing to the protocol. The simulator drives the same
// engine, configured by the same gossip.ProductionConfig.
//
// # The runtime
//
// One goroutine per Node owns the engine. It serialises API calls, frames
// decoded by one reader goroutine per connection, connection events and
// timers; timers come from one scheduler (a min-heap and one time.Timer).
// Nothing blocks that goroutine: transport sends are queued, dials run in
// their own goroutines, and subscribers are fed without waiting. Every
// method of Node is safe for concurrent use; those that wait take a
// context.Context. Close stops every goroutine the node started.
//
// # Identities and addresses
//
// A node is named by transport.KeyID of its ed25519 key, and its address
// (Addr) is "<base64url key>@<transport address>": the key travels with the
// address, so every peer the protocol introduces is pinned. Join also
// accepts a bare "host:port" seed, whose key is learned on connecting:
// such a seed trusts whoever answers there, which is acceptable behind
// transport admission (a cluster CA or an allow-list, which still applies)
// or on a trusted network, and is how operators usually name seeds (a DNS
// name in a configuration file). Names are resolved again on every dial.
//
// # Connections
//
// The node keeps one connection per peer. When two nodes dial each other at
// once, both keep the connection dialled by the smaller ID; the node that
// dialled the other one closes it after flushing it. A frame the codec
// refuses closes its connection (counted in metrics and logged) and counts
// as a failure of that peer. A connection that fails or ends without our
// asking is reported to the protocol, which is the failure detector:
// HyParView repairs its view and the member list suspects the peer, and
// declares it failed cluster-wide after Roster.SuspicionTimeout unless the
// peer refutes. Over QUIC a silent peer is noticed within about a second
// (transport.DefaultIdleTimeout) while this host keeps its own time; a
// starved host judges no one's silence until it runs on time again
// (transport's silence.go), and tells its engine's local health how long
// its goroutines waited (gossip.Engine.NoteHostLag).
//
// # Messages and subscribers
//
// A broadcast's MessageID is its origin's ID and a sequence number seeded
// from the wall clock at start, so a restarted node does not reuse IDs (a
// process that cannot trust its clock persists Node.NextSequence and
// Node.Incarnation and passes larger ones back in its Config, as gossipd's
// data directory does);
// member records travel under content-derived IDs so that identical
// declarations from many nodes deduplicate. Subscriptions and Watchers have
// bounded buffers (Config.SubscriberBuffer, one per subscriber, see
// fanout/): when one is full the newest item is dropped for that subscriber
// alone and counted, and a notice with the exact count (Message.Lagged,
// Event.Lagged) takes the place of what it missed: before the next item
// delivered, or, when none comes, once the buffer has been read. Nothing
// is lost silently and a slow subscriber never slows the node nor costs
// another subscriber anything. Node.OnMessage registers a function called
// for every delivery, which never drops: for a caller that numbers or
// retains deliveries itself.
//
// A broadcast missed for good is not lost silently either: when the node
// missed broadcasts of an origin and Plumtree could no longer repair them
// (a partition longer than its PayloadRetention), every subscription and
// OnMessage function receives a gap notice (Message.Gap: the origin and
// the range of sequences missed; gossip.GapsConfig). A gap has no topic,
// so every subscription receives it, whatever topics it chose.
//
// # Partitions
//
// When a neighbour comes up the two nodes exchange member-list digests and
// the node announces its recent broadcasts (Plumtree's
// NeighborUpAnnouncements), so records and broadcasts missed during a
// partition are repaired while they are retained: Plumtree's
// PayloadRetention (default 30s) from the moment a node sees a neighbour
// fail or a member suspected, declared failed or leaving, which is how a
// partition shows on either side, and while members are missing, up to
// ten PayloadRetentions (5 minutes) after that, and CalmPayloadRetention
// (default 10s) while nothing fails (plumtree/doc.go, deviation 16). So a
// partition that each side notices within 10s of its start (the defaults
// notice it within a few seconds) is repaired as fully as with every
// payload held 30s: entirely when it lasts less than 30s, its last 30s
// when it lasts less than 5 minutes. A node that joins thus
// also receives the recent broadcasts its first neighbours still hold
// (the last 10s of them in a calm cluster). Every
// Config.SyncInterval on average (30s) a node also exchanges digests with
// one random neighbour, so that records some nodes never received (a
// burst of joins into a young overlay, where announcements reach few
// nodes) or learned only through a digest spread to every node even when
// no new link forms. Every Config.RejoinInterval an isolated node rejoins
// through its seeds, and a
// node whose member list shows members it has no path to asks one of them
// or a seed to become a neighbour.
//
// # Through NATs
//
// A node configured BehindNAT says in its record that it cannot be
// dialled and names one of its active neighbours that can be as its
// rendezvous; one configured CheckReachability learns it, by asking a
// neighbour to dial it back on a fresh connection (reach.go,
// Reachability). ConnectICE reaches such a member: it runs ice.Connect with
// the negotiation's signals carried by the overlay through the member's
// rendezvous, and the member answers with AcceptICE (ice.go,
// docs/nat.md); that link is the caller's. With Config.ICE the node runs
// the negotiations itself and HyParView runs over their links: a member
// that cannot be dialled is reached by a negotiation instead of a dial,
// every other member's negotiation is answered, and each link is the
// peer's one connection whatever its path (icelinks.go; Paths shows it).
//
// # Observability
//
// Logs go to Config.Logger (zap, silent by default); counters, gauges and
// histograms go to Config.Metrics (go-metrics; none by default, never the
// global instance). MetricDefs lists them all,
// so that a driver can declare them up front. The gauges (view sizes,
// members by state, tree peers, retained payloads, send queues,
// connections) are sampled every Config.MetricsInterval on the node's own
// goroutine, from the engine's read methods (gossip/reads.go), like every
// other touch of the engine.
package membership

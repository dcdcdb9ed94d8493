package plumtree

// Counters is what the core observed since New. The core does not log: a
// driver exports these (and Sizes) as metrics.
type Counters struct {
	Broadcasts uint64 // local broadcasts accepted
	Delivered  uint64 // messages delivered, local broadcasts included
	Duplicates uint64 // Gossip received for an ID already delivered

	PayloadSent, PayloadReceived uint64 // Gossip messages (the paper's RMR counts these)
	IHaveSent, IHaveReceived     uint64 // IHave messages
	GraftSent, GraftReceived     uint64 // Graft messages, GRAFT(null) included
	PruneSent, PruneReceived     uint64 // Prune messages

	AnnouncementsSent     uint64 // entries in IHave messages sent
	AnnouncementsReceived uint64 // entries in IHave messages received and accepted

	NeighborUpAnnouncements uint64 // entries sent to new neighbours (Config.NeighborUpAnnouncements)

	OptimizationSwaps uint64 // S2 Algorithm 4 replaced an eager link by a lazy one

	GraftsServed uint64 // GRAFTs answered with a payload
	GraftsMissed uint64 // GRAFTs for a payload no longer (or never) held

	PayloadsExpired, PayloadsEvicted uint64 // held payloads dropped by age, by cap
	PayloadHolds                     uint64 // InputHoldPayloads received (doc.go, deviation 16)
	SeenExpired, SeenEvicted         uint64 // remembered IDs dropped by age, by cap
	MissingExpired, MissingEvicted   uint64 // missing IDs dropped by age, by cap
	AnnouncementsRefused             uint64 // announcements that did not fit in missing

	DroppedInvalid     uint64 // malformed messages from peers, dropped
	IgnoredNonNeighbor uint64 // IHAVE, GRAFT or PRUNE from a peer that is not a neighbour
	StaleTimers        uint64 // timers that fired with nothing to do
}

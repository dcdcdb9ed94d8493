package hyparview

// Counters are the node's observability: cumulative event counts since New.
type Counters struct {
	Sent     [MessageTypeCount]uint64 // messages emitted, indexed by MessageType
	Received [MessageTypeCount]uint64 // well-formed messages handled, indexed by MessageType

	JoinsSent      uint64 // Join messages we sent to a contact
	JoinsAccepted  uint64 // Join messages we accepted as a contact
	JoinsRefused   uint64 // Joins we walked on without a link: no young link to drop and the join eviction budget spent
	JoinEvictions  uint64 // established neighbours dropped within the join eviction budget, each spending a unit
	JoinsRejected  uint64 // our Join refused by a contact with no room under its join eviction budget
	JoinsCompleted uint64 // our Join acknowledged by a contact
	JoinTimeouts   uint64 // contacts that did not answer within JoinTimeout (backed off: doc.go, deviation 6)

	ForwardJoinsAccepted  uint64 // join walks that ended here with a Neighbor to the new node
	ForwardJoinsForwarded uint64 // join walks we passed on
	ForwardJoinsRefused   uint64 // join walks that ended here without a link: no young link to drop and the join eviction budget spent

	NeighborRequestsSent     uint64 // Neighbor messages we sent
	NeighborRequestsAccepted uint64 // our Neighbor requests that peers accepted
	NeighborRequestsRejected uint64 // our Neighbor requests that peers refused
	NeighborRequestsTimedOut uint64 // our Neighbor requests left unanswered
	RequestBackoffs          uint64 // rounds of unanswered requests that doubled the next requests' waits (doc.go, deviation 6)
	NeighborRequestsGranted  uint64 // peers' Neighbor requests we accepted
	NeighborRequestsRefused  uint64 // peers' Neighbor requests we refused
	CrossedHandshakes        uint64 // links both ends requested at once

	Disconnects      uint64 // Disconnects that removed an active peer
	StaleDisconnects uint64 // Disconnects for a link that no longer exists
	StaleReplies     uint64 // NeighborReplies matching no request
	Drops            uint64 // active members dropped to make room
	Evictions        uint64 // passive members evicted to make room

	ShufflesSent      uint64 // shuffles we started
	ShufflesForwarded uint64 // shuffles we passed on
	ShufflesAccepted  uint64 // shuffles that ended here and were answered

	ConnectionFailures        uint64 // failures of an active peer or a request target
	IgnoredConnectionFailures uint64 // failures and closes of a peer we had no business with
	ConnectionsClosedByPeer   uint64 // deliberate closes by a live active peer or request target (InputConnectionClosed)

	DroppedMessages uint64 // malformed messages, or messages from self
	StaleTimers     uint64 // timers that fired after their purpose was gone
	IgnoredInputs   uint64 // inputs of unknown kind, or after leaving
}

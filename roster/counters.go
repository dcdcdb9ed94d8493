package roster

// Counters are the roster's observability: cumulative counts since New.
type Counters struct {
	Received uint64 // records handed in by InputReceive
	Merged   uint64 // records handed in by InputMerge
	Applied  uint64 // received or merged records that replaced what we held
	Stale    uint64 // received or merged records superseded by what we held (duplicates included)

	Malformed        uint64 // received or merged records dropped as malformed
	RefusedFull      uint64 // records of new identities refused because the roster held MaxMembers
	MalformedDigests uint64 // remote digests Diff refused as malformed
	Forged           uint64 // received or merged records whose proof did not verify (VerifyRecord)

	Refutations          uint64 // times we raised our incarnation to refute a record about us
	Unrefutable          uint64 // records about us at MaxIncarnation, which cannot be refuted
	SuspicionsRaised     uint64 // neighbours we suspected after their connection failed
	FailuresDeclared     uint64 // suspicions we ended by declaring the member Failed
	Confirmations        uint64 // independent confirmations counted for suspicions held (confirm.go)
	DoubtfulObservations uint64 // own observations of suspects not counted: this node was unhealthy (Input.Doubtful)
	Expired              uint64 // tombstones removed after RetainDead
	Silenced             uint64 // members marked Failed here after SilenceTimeout without a new record of theirs
	Refreshes            uint64 // times we re-announced our record (RefreshInterval)

	StaleTimers      uint64 // timers that fired after their purpose was gone
	IgnoredNeighbors uint64 // NeighborUp/Down about self, id 0, or a member not Alive
	IgnoredInputs    uint64 // inputs after Leave
}

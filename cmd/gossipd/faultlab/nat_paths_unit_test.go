package faultlab

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestLastNeighbourDown checks the reading of an agent's debug log that
// tells the NAT lab whether the overlay ended a hole-punched link
// (relayLoss): the last reason logged for the peer at or after a time.
func TestLastNeighbourDown(t *testing.T) {
	const peer = "97568114dd490360"
	log := "" +
		"2026-12-08T00:32:04.167Z\tDEBUG\tmembership\tmembership/apply.go:43\tneighbour down\t{\"node\": \"f60c591461d05690\", \"peer\": \"" + peer + "\", \"reason\": \"failed\"}\n" +
		"2026-12-08T00:32:04.175Z\tDEBUG\tmembership\tmembership/reach.go:99\tdialled back\t{\"node\": \"f60c591461d05690\", \"peer\": \"" + peer + "\", \"result\": \"dialled\"}\n" +
		"2026-12-08T00:32:09.162Z\tDEBUG\tmembership\tmembership/apply.go:43\tneighbour down\t{\"node\": \"f60c591461d05690\", \"peer\": \"b92962d00a9a3c61\", \"reason\": \"disconnected\"}\n" +
		"2026-12-08T00:32:14.257Z\tDEBUG\tmembership\tmembership/apply.go:43\tneighbour down\t{\"node\": \"f60c591461d05690\", \"peer\": \"" + peer + "\", \"reason\": \"dropped\"}\n"
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, "2026-12-08T"+s+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for _, tc := range []struct {
		name, id string
		since    time.Time
		want     string
	}{
		{"the last of two", peer, at("00:32:00"), "dropped"},
		{"the one since", peer, at("00:32:10"), "dropped"},
		{"the same millisecond counts", peer, at("00:32:14.257400"), "dropped"},
		{"none since", peer, at("00:32:15"), ""},
		{"another peer", "b92962d00a9a3c61", at("00:32:00"), "disconnected"},
		{"not a neighbour down line", "f60c591461d05690", at("00:32:00"), ""},
		{"a peer never named", "0000000000000000", at("00:32:00"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, lastNeighbourDown(log, tc.id, tc.since))
		})
	}
}

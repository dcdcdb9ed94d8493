package faultlab

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestNeighbourDowns checks the reading of an agent's debug log that
// tells the NAT lab whether the overlay ended a hole-punched link
// (relayLoss): the reasons logged for the peer at or after a time.
func TestNeighbourDowns(t *testing.T) {
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
		want     []string
	}{
		{"both, in order", peer, at("00:32:00"), []string{"failed", "dropped"}},
		{"the one since", peer, at("00:32:10"), []string{"dropped"}},
		{"the same millisecond counts", peer, at("00:32:14.257400"), []string{"dropped"}},
		{"none since", peer, at("00:32:15"), nil},
		{"another peer", "b92962d00a9a3c61", at("00:32:00"), []string{"disconnected"}},
		{"not a neighbour down line", "f60c591461d05690", at("00:32:00"), nil},
		{"a peer never named", "0000000000000000", at("00:32:00"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, neighbourDowns(log, tc.id, tc.since))
		})
	}
}

// TestLinkEnd checks what the NAT lab makes of the reasons both ends of a
// punched link logged for its end: a failure or a leave anywhere is a
// failure, a drop otherwise the overlay's decision, a disconnect alone
// or nothing not yet either.
func TestLinkEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
		want int
	}{
		{"nothing logged", nil, nil, linkUnexplained},
		{"one end dropped the other, which was told", []string{"dropped"}, []string{"disconnected"}, linkDropped},
		{"one end dropped the other, which has not logged yet", nil, []string{"dropped"}, linkUnexplained},
		{"both ends dropped each other", []string{"dropped"}, []string{"dropped"}, linkDropped},
		{"a disconnect alone", []string{"disconnected"}, nil, linkUnexplained},
		{"a drop and a failure at the other end", []string{"dropped"}, []string{"failed"}, linkFailed},
		{"a failure before a drop at the same end", []string{"failed", "dropped"}, nil, linkFailed},
		{"a leave", nil, []string{"left"}, linkFailed},
		{"a failure alone", []string{"failed"}, nil, linkFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, linkEnd(tc.a, tc.b))
		})
	}
}

// Package membership is the embedded gossip library: a Node joins a cluster
// through seed addresses, keeps a full member list and broadcasts messages
// that every live node delivers once.
//
// The protocol logic is pure and lives below: membership/protocol composes
// the HyParView and Plumtree cores, membership/roster keeps the member list.
// This package runs them over a transport.
package membership

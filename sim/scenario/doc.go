// Package scenario holds the simulator's experiments: each sets up a
// cluster of simulated nodes with sim/engine, runs one of the HyParView or
// Plumtree papers' experiments on it, and returns rows that the command
// prints as tables.
package scenario

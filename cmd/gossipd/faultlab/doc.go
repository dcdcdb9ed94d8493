// Package faultlab is the fault lab of gossipd: its tests run a cluster of
// real gossipd agents, each in a network namespace of its own joined by a
// bridge, inject faults (crashes, pauses, restarts, partitions, packet
// loss, local send errors) while every agent broadcasts at a steady rate,
// and check an oracle after each scenario:
//
//   - every broadcast an agent accepted while live is delivered exactly
//     once by every agent live at the end, or reported to that agent's
//     subscriber as missed; no delivery is ever repeated;
//   - the member lists converge on exactly the live agents;
//   - no observer declares (or suspects) a member failed while that member
//     runs and is reachable from it;
//   - memory and goroutines stay bounded.
//
// The lab needs root and the ip and iptables commands; without them its
// tests skip, saying so. Run it with
//
//	sudo go test ./cmd/gossipd/faultlab -v -faultlab.n 8 -faultlab.out /tmp/lab.md
//
// Flags: -faultlab.n (agents), -faultlab.rate (broadcasts per second by the
// whole cluster, 27 by default, the same at every size), -faultlab.scenarios (a regular expression
// over scenario names), -faultlab.soak (length of the fault phases),
// -faultlab.settle (bound on every wait for a condition), -faultlab.out
// (a Markdown file receiving the table of figures) and -faultlab.logs (a
// directory receiving the agents' logs of every failing scenario).
//
// TestNATLab runs seven agents with -nat auto on a public segment and
// three LANs behind iptables NATs (two port-restricted cones, one
// symmetric) and checks that they join, learn whether they can be
// dialled, deliver broadcasts exactly once, link across the NATs by the
// paths the NATs allow (host, hole-punched or relayed) and keep their
// punched links when the relay dies (docs/nat.md, "The NAT lab"):
//
//	sudo go test ./cmd/gossipd/faultlab -run TestNATLab -v
//
// Everything the lab creates (namespaces, the bridge, processes, iptables
// rules, which live inside the namespaces) is removed by t.Cleanup and on
// SIGINT or SIGTERM, and namespaces left by a killed earlier run are
// removed when the lab starts.
package faultlab

// Command gossipd is the plumview sidecar agent and its command-line
// client. One agent runs per host; applications talk to it over gRPC
// (plumview.gossipd.v1) on a Unix socket.
//
//	gossipd agent     [-config FILE] [-bind ADDR] [-seeds A,B] ...  run the agent
//	gossipd members   [-state alive,failed] [-o json]             list members
//	gossipd broadcast -topic T [PAYLOAD|-file F]                  send a message
//	gossipd subscribe [-topics A,B] [-topic T]... [-resume-from N [-resume-epoch E]] [-count N]   print messages
//	gossipd status    [-cluster [-svg FILE]] [-o json]            this node's status, or the cluster's views
//	gossipd leave                                                 leave and stop the agent
//	gossipd keygen    -out FILE [-ca CA.key]                      write a new key
//	gossipd certify   -key-file FILE -ca CA.key                   re-certify a key
//	gossipd version                                               module version, commit, Go version
//	gossipd completion bash|zsh                                   shell completion script
//
// Every flag may also be given in the environment as GOSSIPD_<NAME> in
// upper snake case (GOSSIPD_SEEDS, GOSSIPD_KEY_FILE), and the agent's in a
// YAML or JSON file (-config) under the flag's name in snake case
// (key_file). Flags win over the environment, which wins over the file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// errUsage marks a usage error already reported by the flag package.
var errUsage = errors.New("gossipd: usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage())
		return 2
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		if len(args) > 1 { // gossipd help CMD: gossipd CMD -h
			if c, ok := lookupCommand(args[1]); ok {
				printHelp(stdout, flagSetOf(c))
				return 0
			}
		}
		fmt.Fprint(stdout, topUsage())
		return 0
	}
	if name == "-version" || name == "--version" {
		name = "version"
	}
	cmd, ok := lookupCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "gossipd: unknown command %q\n%s", name, topUsage())
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

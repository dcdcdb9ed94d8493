// Command gossipd is the plumview sidecar agent and its command-line
// client. One agent runs per host; applications talk to it over gRPC
// (plumview.gossipd.v1) on a Unix socket.
//
//	gossipd agent     [-config FILE] [-bind ADDR] [-seeds A,B] ...  run the agent
//	gossipd members   [-state alive,failed] [-o json]             list members
//	gossipd broadcast -topic T [PAYLOAD|-file F]                  send a message
//	gossipd subscribe [-topics A,B] [-resume-from N [-resume-epoch E]] [-count N]   print messages
//	gossipd status    [-cluster [-svg FILE]] [-o json]            this node's status, or the cluster's views
//	gossipd leave                                                 leave and stop the agent
//	gossipd keygen    -out FILE [-ca CA.key]                      write a new key
//	gossipd certify   -key-file FILE -ca CA.key                   re-certify a key
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

const usage = `usage: gossipd <command> [flags]

commands:
  agent       run the agent (see gossipd agent -h)
  members     list the members known to the local agent
  broadcast   broadcast a message on a topic
  subscribe   print the messages of some topics
  status      print the local agent's status
  leave       leave the cluster gracefully and stop the agent
  keygen      write a new identity key file
  certify     replace the certificate in a key file, keeping the key

Client commands reach the agent at -socket (default /tmp/gossipd.sock) or
-addr. Every flag can be set as GOSSIPD_<FLAG_IN_UPPER_SNAKE_CASE>.
`

// errUsage marks a usage error already reported by the flag package.
var errUsage = errors.New("gossipd: usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"agent": runAgent, "members": runMembers, "broadcast": runBroadcast,
		"subscribe": runSubscribe, "status": runStatus, "leave": runLeave, "keygen": runKeygen,
		"certify": runCertify,
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "gossipd: unknown command %q\n%s", name, usage)
		return 2
	}
	err := cmd(args[1:], stdout, stderr)
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
